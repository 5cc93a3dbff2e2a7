"""Dead-letter tools without a broker: normalising, grouping, headers and replay sorting."""

from __future__ import annotations

from streamworks.core.errors import StageError
from streamworks.core.messages import InMessage
from streamworks.ops.dlq import DeadLetter, Sorter, group_letters, normalise, replay_headers
from streamworks.ops.dlq.marks import marker_key, parse_marker_key
from streamworks.runtime.dead_letters import dead_letter


def letter(
    offset: int,
    error: BaseException,
    *,
    origin: str = "orders.raw",
    partition: int = 0,
    headers: tuple[tuple[str, bytes], ...] = (),
) -> DeadLetter:
    """A dead letter as the runtime writes it, read back at ``partition``/``offset``."""
    message = InMessage(origin, 1, 100 + offset, b"k%d" % offset, b"v", 0, headers)
    out = dead_letter("clean", "orders.clean.dlq", message, error, attempts=1)
    return DeadLetter.parse(partition, offset, key=out.key, value=out.value, headers=out.headers)


def test_normalise_groups_messages_that_differ_only_in_numbers_and_ids() -> None:
    assert normalise("order 42 of c-00017 failed\nmore") == "order <n> of c-<n> failed"
    assert normalise("order 7 of c-00203 failed") == "order <n> of c-<n> failed"
    assert (
        normalise("id 0b9f3c1e-2a6f-4c1d-9e1a-3f2b4c5d6e7f and deadbeef00112233 unknown")
        == "id <id> and <id> unknown"
    )
    assert normalise("") == ""
    assert normalise("price -3.50 below zero") == "price -<n> below zero"


def test_letters_are_read_back_from_the_runtime_headers() -> None:
    found = letter(5, StageError("bad price 3"), headers=(("trace", b"t-1"),))
    assert found.error_class == "streamworks.core.errors.StageError"
    assert found.message == "bad price 3"
    assert (found.origin_topic, found.origin_partition, found.origin_offset) == (
        "orders.raw",
        1,
        105,
    )
    assert found.key == b"k5"
    assert found.timestamp_ms > 0


def test_groups_count_by_class_and_pattern_with_first_last_origins_and_samples() -> None:
    letters = [
        letter(0, StageError("bad price 1")),
        letter(1, StageError("bad price 2"), origin="orders.other"),
        letter(2, ValueError("bad price 3")),
        letter(3, StageError("bad price 4")),
    ]
    groups = group_letters(letters, samples=2)
    assert [(g.error_class, g.pattern, g.count) for g in groups] == [
        ("streamworks.core.errors.StageError", "bad price <n>", 3),
        ("builtins.ValueError", "bad price <n>", 1),
    ]
    assert groups[0].origins == {"orders.raw": 2, "orders.other": 1}
    assert [s.offset for s in groups[0].samples] == [0, 1]
    assert groups[0].first_ms <= groups[0].last_ms


def test_replay_headers_keep_own_headers_drop_dlq_ones_and_count_replays() -> None:
    found = letter(9, StageError("x"), headers=(("trace", b"t-1"),))
    first = replay_headers(found.headers, "orders.clean.dlq", 0, 9, now_ms=1234)
    names = [name for name, _ in first]
    assert not any(name.startswith("streamworks.dlq.") for name in names)
    assert dict(first) == {
        "trace": b"t-1",
        "streamworks.replay.dlq.topic": b"orders.clean.dlq",
        "streamworks.replay.dlq.partition": b"0",
        "streamworks.replay.dlq.offset": b"9",
        "streamworks.replay.at": b"1234",
        "streamworks.replay.count": b"1",
    }
    # replayed, failed again, dead-lettered again (own headers kept), replayed again
    again = letter(3, StageError("x"), headers=first)
    second = dict(replay_headers(again.headers, "orders.clean.dlq", 0, 3, now_ms=99))
    assert second["streamworks.replay.count"] == b"2"
    assert second["streamworks.replay.dlq.offset"] == b"3"
    assert second["trace"] == b"t-1"


def test_marker_keys_round_trip() -> None:
    assert parse_marker_key(marker_key(2, 1500)) == (2, 1500)
    assert parse_marker_key(b"junk") is None
    assert parse_marker_key(None) is None


def test_sorter_skips_done_filtered_and_orphaned_letters_and_holds_their_offsets() -> None:
    letters = [
        letter(0, StageError("a")),  # already replayed
        letter(1, StageError("b")),  # replayed now: offset moves to 2
        letter(2, ValueError("c")),  # filtered out: holds the offset at 2
        letter(3, StageError("d")),  # replayed, but the offset stays held
        letter(4, StageError("e"), origin="gone"),  # origin topic missing
        letter(0, StageError("f"), partition=1),  # partition 1 is not held
    ]
    sorter = Sorter(done={(0, 0)}, existing={"orders.raw"}, error="StageError")
    batch = sorter.sort(letters)
    assert [(s.partition, s.offset) for s in batch.sends] == [(0, 1), (0, 3), (1, 0)]
    assert batch.offsets == {0: 2, 1: 1}
    report = sorter.report
    assert (report.replayed, report.already_replayed, report.filtered, report.no_origin) == (
        3,
        1,
        1,
        1,
    )
    assert report.missing_origins == {"gone": 1}
    # the next batch of partition 0 stays held
    assert sorter.sort([letter(5, StageError("g"))]).offsets == {}


def test_sorter_limit_ends_the_run_and_qualified_class_names_match() -> None:
    sorter = Sorter(
        done=set(), existing={"orders.raw"}, error="streamworks.core.errors.StageError", limit=2
    )
    batch = sorter.sort([letter(i, StageError("x")) for i in range(4)])
    assert [s.offset for s in batch.sends] == [0, 1]
    assert batch.offsets == {0: 2}
    assert batch.last
