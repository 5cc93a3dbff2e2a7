"""Event-time windows: tumbling, hopping, sliding and session.

All four keep, per key, one JSON "slot" holding that key's open windows, so one key costs one
read and one write per record whatever the window kind. Times are epoch milliseconds. A
window *closes* once its task's stream time (the event time every upstream partition feeding
the task has reached, see :class:`~streamworks.pipeline.aggregation.Aggregation`) reaches its
end plus the grace period; a record whose every window is closed is *late*, and a hopping
record with some of its windows still open counts in those and is not late. When the input
stops, ``close_when_idle`` closes the windows that end (plus grace) by the last event time
within that many seconds, and later ones as the wall clock passes their end plus grace.

Window bounds are ``[start, end)``, except sliding windows, which end at a record's time and
include it: ``(end - size, end]``. A sliding or session window stays open while stream time
equals its last record's time plus grace, so records with equal timestamps share it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Protocol

from streamworks.pipeline.aggregators import Aggregator

__all__ = ["Hopping", "Session", "Sliding", "Tumbling", "Window", "WindowKind"]


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """The bounds of one window, in epoch milliseconds."""

    start_ms: int
    """First instant in the window (exclusive for sliding windows)."""
    end_ms: int
    """First instant after it (inclusive for sliding windows)."""


Touched = list[tuple[Window, Any]]
"""Windows (and their states) that an operation changed or closed."""


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class WindowKind(Protocol):
    """How one kind of window keeps a key's slot."""

    grace_ms: int

    def add(self, slot: Any, ts: int, value: Any, agg: Aggregator, now: int) -> tuple[Any, Touched]:
        """Fold ``value`` at event time ``ts`` into the windows still open at stream time
        ``now``; return the new slot and the changed windows."""

    def close(self, slot: Any, now: int, agg: Aggregator) -> tuple[Any, Touched]:
        """Take out the windows closed at stream time ``now``; an empty slot comes back None."""

    def deadline(self, slot: Any) -> int | None:
        """The stream time at which something in ``slot`` closes next."""

    def is_late(self, ts: int, now: int) -> bool:
        """True when every window of event time ``ts`` is closed at stream time ``now``."""

    def rejects(self, slot: Any) -> bool:
        """True when the key's slot takes no more records (a gather already emitted)."""


class _FixedWindows:
    """Tumbling and hopping windows: ``[start, start + size)`` for starts on a step grid.

    The slot is ``[[start, state], ...]`` sorted by start.
    """

    size_ms: int
    step_ms: int
    grace_ms: int

    def _starts(self, ts: int) -> range:
        last = ts - ts % self.step_ms
        first = last - ((self.size_ms - 1) // self.step_ms) * self.step_ms
        return range(first, last + 1, self.step_ms)

    def add(self, slot: Any, ts: int, value: Any, agg: Aggregator, now: int) -> tuple[Any, Touched]:
        windows: list[list[Any]] = slot or []
        touched: Touched = []
        for start in self._starts(ts):
            end = start + self.size_ms
            if end <= ts:
                continue  # the step grid's first start can fall short of ts
            if end + self.grace_ms <= now:
                continue  # closed already: of overlapping windows, only the open ones count it
            index = bisect.bisect_left(windows, start, key=lambda pair: pair[0])
            if index < len(windows) and windows[index][0] == start:
                windows[index][1] = agg.add(windows[index][1], value)
            else:
                windows.insert(index, [start, agg.add(agg.initial(), value)])
            touched.append((Window(start, end), windows[index][1]))
        return windows, touched

    def close(self, slot: Any, now: int, agg: Aggregator) -> tuple[Any, Touched]:
        windows: list[list[Any]] = slot or []
        closed: Touched = []
        while windows and windows[0][0] + self.size_ms + self.grace_ms <= now:
            start, state = windows.pop(0)
            closed.append((Window(start, start + self.size_ms), state))
        return (windows or None), closed

    def deadline(self, slot: Any) -> int | None:
        if not slot:
            return None
        return int(slot[0][0]) + self.size_ms + self.grace_ms

    def is_late(self, ts: int, now: int) -> bool:
        last_start = ts - ts % self.step_ms
        return last_start + self.size_ms + self.grace_ms <= now

    def rejects(self, slot: Any) -> bool:
        return False


class Tumbling(_FixedWindows):
    """Back-to-back windows of ``size`` seconds; each record is in exactly one."""

    def __init__(self, size: float, *, grace: float = 0.0) -> None:
        if size <= 0 or grace < 0:
            raise ValueError("a tumbling window needs size > 0 and grace >= 0")
        self.size_ms = self.step_ms = _ms(size)
        self.grace_ms = _ms(grace)

    def __repr__(self) -> str:
        return f"Tumbling(size_ms={self.size_ms}, grace_ms={self.grace_ms})"


class Hopping(_FixedWindows):
    """Windows of ``size`` seconds starting every ``step`` seconds; they overlap."""

    def __init__(self, size: float, step: float, *, grace: float = 0.0) -> None:
        if not 0 < step <= size or grace < 0:
            raise ValueError("a hopping window needs 0 < step <= size and grace >= 0")
        self.size_ms = _ms(size)
        self.step_ms = _ms(step)
        self.grace_ms = _ms(grace)

    def __repr__(self) -> str:
        return f"Hopping(size_ms={self.size_ms}, step_ms={self.step_ms}, grace_ms={self.grace_ms})"


class Sliding:
    """One window per record: the ``size`` seconds up to and including the record's time.

    The slot keeps the recent values (``"b"``: ``[[ts, value], ...]`` sorted) and the window
    ends not yet closed (``"p"``). A window's state is folded from the values when it is
    read, so a record that arrives out of order still counts in every later window.
    """

    def __init__(self, size: float, *, grace: float = 0.0) -> None:
        if size <= 0 or grace < 0:
            raise ValueError("a sliding window needs size > 0 and grace >= 0")
        self.size_ms = _ms(size)
        self.grace_ms = _ms(grace)

    def __repr__(self) -> str:
        return f"Sliding(size_ms={self.size_ms}, grace_ms={self.grace_ms})"

    def _state(self, buffer: list[list[Any]], end: int, agg: Aggregator) -> Any:
        state = agg.initial()
        low = bisect.bisect_right(buffer, end - self.size_ms, key=lambda pair: pair[0])
        high = bisect.bisect_right(buffer, end, key=lambda pair: pair[0])
        for _, value in buffer[low:high]:
            state = agg.add(state, value)
        return state

    def add(self, slot: Any, ts: int, value: Any, agg: Aggregator, now: int) -> tuple[Any, Touched]:
        slot = slot or {"b": [], "p": []}
        buffer: list[list[Any]] = slot["b"]
        pending: list[int] = slot["p"]
        buffer.insert(bisect.bisect_right(buffer, ts, key=lambda pair: pair[0]), [ts, value])
        index = bisect.bisect_left(pending, ts)
        if index == len(pending) or pending[index] != ts:
            pending.insert(index, ts)
        ends = sorted({t for t, _ in buffer if ts <= t < ts + self.size_ms})
        return slot, [
            (Window(end - self.size_ms, end), self._state(buffer, end, agg)) for end in ends
        ]

    def close(self, slot: Any, now: int, agg: Aggregator) -> tuple[Any, Touched]:
        if not slot:
            return None, []
        buffer: list[list[Any]] = slot["b"]
        pending: list[int] = slot["p"]
        closed: Touched = []
        while pending and pending[0] + self.grace_ms < now:
            end = pending.pop(0)
            closed.append((Window(end - self.size_ms, end), self._state(buffer, end, agg)))
        # values older than any window still to come are no longer needed
        horizon = min([*pending[:1], now - self.grace_ms]) - self.size_ms
        del buffer[: bisect.bisect_right(buffer, horizon, key=lambda pair: pair[0])]
        return (slot if buffer or pending else None), closed

    def deadline(self, slot: Any) -> int | None:
        if not slot:
            return None
        if slot["p"]:
            return int(slot["p"][0]) + self.grace_ms + 1
        if slot["b"]:
            return int(slot["b"][-1][0]) + self.size_ms + self.grace_ms + 1
        return None

    def is_late(self, ts: int, now: int) -> bool:
        return ts + self.grace_ms < now

    def rejects(self, slot: Any) -> bool:
        return False


class Session:
    """Activity sessions: records less than ``gap`` seconds apart share a window.

    The slot is ``[[start, end, state], ...]`` sorted by start, where ``end`` is the last
    record's time plus one millisecond. A record at most ``gap`` from a session joins it; one
    that bridges two sessions merges them (the aggregator's ``merge``). A session closes
    ``gap`` plus grace after its last record; a record more than grace behind stream time is
    late.
    """

    def __init__(self, gap: float, *, grace: float = 0.0) -> None:
        if gap <= 0 or grace < 0:
            raise ValueError("a session window needs gap > 0 and grace >= 0")
        self.gap_ms = _ms(gap)
        self.grace_ms = _ms(grace)

    def __repr__(self) -> str:
        return f"Session(gap_ms={self.gap_ms}, grace_ms={self.grace_ms})"

    def add(self, slot: Any, ts: int, value: Any, agg: Aggregator, now: int) -> tuple[Any, Touched]:
        sessions: list[list[Any]] = slot or []
        start, end, state = ts, ts + 1, agg.add(agg.initial(), value)
        kept: list[list[Any]] = []
        for session in sessions:
            s_start, s_end, s_state = session
            if s_start - self.gap_ms < end and start < s_end + self.gap_ms:
                start, end = min(start, s_start), max(end, s_end)
                state = agg.merge(s_state, state)
            else:
                kept.append(session)
        merged = [start, end, state]
        kept.insert(bisect.bisect_left(kept, start, key=lambda s: s[0]), merged)
        return kept, [(Window(start, end), state)]

    def close(self, slot: Any, now: int, agg: Aggregator) -> tuple[Any, Touched]:
        sessions: list[list[Any]] = slot or []
        closed: Touched = []
        kept: list[list[Any]] = []
        for start, end, state in sessions:
            if end - 1 + self.gap_ms + self.grace_ms < now:
                closed.append((Window(start, end), state))
            else:
                kept.append([start, end, state])
        return (kept or None), closed

    def deadline(self, slot: Any) -> int | None:
        if not slot:
            return None
        return min(int(end) for _, end, _ in slot) + self.gap_ms + self.grace_ms

    def is_late(self, ts: int, now: int) -> bool:
        # a record older than that could have joined a session that is already closed
        return ts + self.grace_ms < now

    def rejects(self, slot: Any) -> bool:
        return False
