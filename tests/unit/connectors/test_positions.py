"""Position records: keyed by connector and source partition, newest wins, others ignored."""

from __future__ import annotations

from streamworks.connectors.base.positions import POSITIONS_TOPIC, PositionStore
from streamworks.core.settings import Settings


def test_a_position_record_round_trips_and_the_newest_wins() -> None:
    store = PositionStore("files-in", Settings())
    first = store.record("inbox/a.csv", {"offset": 10, "line": 1})
    second = store.record("inbox/a.csv", {"offset": 90, "line": 7, "done": True})
    assert first.topic == POSITIONS_TOPIC
    assert first.key == second.key == b'["files-in","inbox/a.csv"]'
    fresh = PositionStore("files-in", Settings())
    for record in (first, second):
        fresh._apply(record.key, record.value)
    assert fresh.get("inbox/a.csv") == {"offset": 90, "line": 7, "done": True}
    assert fresh.get("inbox/b.csv") is None


def test_other_connectors_tombstones_and_garbage_are_ignored_or_applied_rightly() -> None:
    ours, theirs = PositionStore("a", Settings()), PositionStore("b", Settings())
    store = PositionStore("a", Settings())
    mine = ours.record("p", {"produced": 5})
    store._apply(mine.key, mine.value)
    other = theirs.record("p", {"produced": 99})
    store._apply(other.key, other.value)
    store._apply(b"not json", b"{}")
    store._apply(mine.key, b"[not a position")
    assert store.all() == {"p": {"produced": 5}}
    store._apply(mine.key, None)  # a tombstone forgets the partition
    assert store.get("p") is None


def test_remember_keeps_a_copy() -> None:
    store = PositionStore("a", Settings())
    position = {"offset": 1}
    store.remember("p", position)
    position["offset"] = 2
    assert store.get("p") == {"offset": 1}
