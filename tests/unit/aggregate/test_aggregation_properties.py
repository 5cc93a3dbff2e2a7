"""Property: every final window result equals a batch recomputation over the same input.

The recomputation below is written from the window definitions alone (no code shared with
the runtime): stream time is the largest event time seen so far; a record is late when all
of its windows closed before it arrived; a window is emitted once stream time passes its
end plus grace. Random streams mix keys, out-of-order and late records and batch sizes.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from streamworks.pipeline import Hopping, Session, Sliding, Tumbling
from streamworks.testing.driver import TestDriver
from tests.kit.builders import reading
from tests.unit.aggregate.test_aggregations import IN, counting, emitted

Stream = list[tuple[str, int]]
Result = tuple[Counter[tuple[str, int, int]], int]

streams = st.lists(
    st.tuples(st.sampled_from("abc"), st.integers(0, 60).map(lambda s: s * 1_000 + 7)),
    max_size=40,
)
batches = st.integers(1, 12)


def fixed_truth(events: Stream, size: int, step: int, grace: int) -> Result:
    now, late, counts = -(10**12), 0, Counter[tuple[str, int, int]]()
    for key, ts in events:
        grid = [ts - ts % step - k * step for k in range(size // step + 2)]
        starts = [s for s in grid if s <= ts < s + size]
        open_ = [s for s in starts if s + size + grace > now]
        if not open_:
            late += 1
        for s in open_:
            counts[(key, s, s + size)] += 1
        now = max(now, ts)
    closed = Counter({w: c for w, c in counts.items() if w[2] + grace <= now})
    return closed, late


def _on_time(events: Stream, grace: int) -> tuple[dict[str, list[int]], int, int]:
    """Event times per key of the records not behind stream time by more than grace;
    how many were; the final stream time."""
    now, late, kept = -(10**12), 0, defaultdict(list)
    for key, ts in events:
        if ts + grace < now:
            late += 1
        else:
            kept[key].append(ts)
        now = max(now, ts)
    return kept, late, now


def session_truth(events: Stream, gap: int, grace: int) -> Result:
    kept, late, now = _on_time(events, grace)
    closed: Counter[tuple[str, int, int]] = Counter()
    for key, times in kept.items():
        times.sort()
        first = last = times[0]
        size = 1
        for ts in times[1:]:
            if ts - last <= gap:
                last, size = ts, size + 1
                continue
            if last + gap + grace < now:
                closed[(key, first, last + 1)] = size
            first = last = ts
            size = 1
        if last + gap + grace < now:
            closed[(key, first, last + 1)] = size
    return closed, late


def sliding_truth(events: Stream, size: int, grace: int) -> Result:
    kept, late, now = _on_time(events, grace)
    closed: Counter[tuple[str, int, int]] = Counter()
    for key, times in kept.items():
        for end in set(times):
            if end + grace < now:
                closed[(key, end - size, end)] = sum(1 for t in times if end - size < t <= end)
    return closed, late


async def _run(window: object, events: Stream, batch: int) -> Result:
    driver = TestDriver(counting(window), batch_size=batch)  # type: ignore[arg-type]
    for key, ts in events:
        driver.send(IN, reading(key, ts), key=key)
    await driver.run()
    got = Counter({(k, s, e): c for k, s, e, c in emitted(driver)})
    assert sum(got.values()) == sum(c for *_, c in emitted(driver)), "a window emitted twice"
    assert len(emitted(driver)) == len(got), "a window emitted twice"
    counts = driver.counts["count"]
    assert counts.balanced()
    assert len(driver.messages("agg.count.late")) == counts.late
    return got, counts.late


@settings(max_examples=60, deadline=None)
@given(events=streams, batch=batches, grace=st.sampled_from([0, 3, 9]))
async def test_tumbling_matches_batch_truth(events: Stream, batch: int, grace: int) -> None:
    assert await _run(Tumbling(10, grace=grace), events, batch) == fixed_truth(
        events, 10_000, 10_000, grace * 1_000
    )


@settings(max_examples=60, deadline=None)
@given(events=streams, batch=batches, grace=st.sampled_from([0, 4]))
async def test_hopping_matches_batch_truth(events: Stream, batch: int, grace: int) -> None:
    assert await _run(Hopping(10, 4, grace=grace), events, batch) == fixed_truth(
        events, 10_000, 4_000, grace * 1_000
    )


@settings(max_examples=60, deadline=None)
@given(events=streams, batch=batches, grace=st.sampled_from([0, 5]))
async def test_sliding_matches_batch_truth(events: Stream, batch: int, grace: int) -> None:
    assert await _run(Sliding(10, grace=grace), events, batch) == sliding_truth(
        events, 10_000, grace * 1_000
    )


@settings(max_examples=60, deadline=None)
@given(events=streams, batch=batches, grace=st.sampled_from([0, 5]))
async def test_session_matches_batch_truth(events: Stream, batch: int, grace: int) -> None:
    assert await _run(Session(6, grace=grace), events, batch) == session_truth(
        events, 6_000, grace * 1_000
    )
