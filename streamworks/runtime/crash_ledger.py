"""The crash-loop ledger on disk: workers' markers, and the suspects their deaths add up to.

A worker marks the offsets it is processing in a small file, a marker
(:mod:`streamworks.runtime.crash_marker`), in ``<state dir>/crashes/<group>/``; a marker
left by a process that is gone is a death with those offsets in its batch. Whoever finds
it first (the supervisor when it reaps the process, or a worker of the group when it
starts) claims it and folds it into the group's ``ledger.json``: per partition, the
offsets common to the deaths in a row and how many there were. Changes to the ledger are
made under a file lock, so several processes can fold and clear at once. What a worker
does with the suspects is :mod:`streamworks.runtime.crashloop`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from streamworks.runtime.crash_marker import MARKER_NAME, read_marker

__all__ = [
    "FORGET_AFTER_S",
    "Ledger",
    "Suspect",
    "crash_directory",
    "exit_reason",
    "fold_dead_worker",
    "read_json",
    "stopped_itself",
    "write_json",
]

logger = logging.getLogger(__name__)

FORGET_AFTER_S = 900.0
"""A ledger entry whose last death is older than this is stale."""
_FOLDER = "crashes"


@dataclass
class Suspect:
    """The suspect offsets of one partition, from the deaths seen so far."""

    topic: str
    partition: int
    first: int
    """The lowest offset that was in every death's batch since the run began."""
    last: int
    """The highest such offset."""
    deaths: int
    """Deaths in a row with these offsets in the batch."""
    reason: str
    """Why the last worker ended, as its supervisor or its marker says."""
    at: float
    """When the last death was folded in (epoch seconds)."""
    pinned: bool = False
    """True when the deaths alone narrowed the suspects to one record (``first ==
    last``); records that got through since do not pin the one left."""

    @property
    def tp(self) -> TopicPartition:
        """The partition."""
        return TopicPartition(self.topic, self.partition)


def crash_directory(state_dir: Path, group: str) -> Path:
    """Where the markers and the ledger of ``group`` (one stage's workers) live."""
    return state_dir / _FOLDER / group


def exit_reason(returncode: int) -> str:
    """A process's exit status in words: ``killed by SIGSEGV``, ``exit 1``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"


def stopped_itself(state_dir: Path, pid: int) -> bool:
    """True when worker ``pid`` ended because its stage stopped itself on a bug (its
    breaker tripped): another worker would stop the same way. Asking forgets the note."""
    notes = list((state_dir / _FOLDER).glob(f"*/stopped-{pid}.json"))
    for note in notes:
        note.unlink(missing_ok=True)
    return bool(notes)


def fold_dead_worker(state_dir: Path, pid: int, reason: str) -> list[Suspect]:
    """Fold the markers a dead worker ``pid`` left in ``state_dir`` into their groups'
    ledgers; return the suspects it counts towards (none: it ended for no record)."""
    counted: list[Suspect] = []
    root = state_dir / _FOLDER
    if not root.is_dir():
        return counted
    for marker in sorted(root.glob("*/" + MARKER_NAME.format(pid=pid, worker="*"))):
        counted += Ledger(marker.parent).fold(marker, reason)
    return counted


class Ledger:
    """The suspects of one group, in ``<directory>/ledger.json``, changed under a lock."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._path = directory / "ledger.json"

    def read(self) -> list[Suspect]:
        """The fresh entries."""
        data = read_json(self._path) or {}
        now = time.time()
        suspects = [Suspect(**entry) for entry in data.get("suspects", [])]
        return [s for s in suspects if now - s.at < FORGET_AFTER_S]

    def orphans(self) -> list[tuple[Path, int]]:
        """Markers of workers that are no longer running, with their pids."""
        found = []
        for marker in self._directory.glob(MARKER_NAME.format(pid="*", worker="*")):
            pid = int(marker.name.split("-")[1])
            if not _alive(pid):
                found.append((marker, pid))
        return found

    def fold(self, marker: Path, reason: str) -> list[Suspect]:
        """Count a dead worker's ``marker`` (claimed first, so it counts once)."""
        claimed = marker.with_suffix(".folding")
        try:
            marker.rename(claimed)
        except FileNotFoundError:
            return []  # somebody else folded it
        data = read_marker(claimed) or {}
        claimed.unlink()
        why = reason if "reason" not in data else f"{reason}: {data['reason']}"
        counted = []
        with self._locked() as suspects:
            for topic, partition, low, high in data.get("ranges", []):
                tp = TopicPartition(topic, partition)
                old = suspects.get(tp)
                first, last, deaths = low, high, 1
                if old is not None and old.first <= high and low <= old.last:
                    first, last, deaths = max(low, old.first), min(high, old.last), old.deaths + 1
                new = Suspect(
                    topic, partition, first, last, deaths, why, time.time(), first == last
                )
                suspects[tp] = new
                counted.append(new)
        for suspect in counted:
            logger.info(
                "%s[%d]: a worker died with offsets %d..%d in its batch (%s); death %d in a "
                "row for them",
                suspect.topic,
                suspect.partition,
                suspect.first,
                suspect.last,
                why,
                suspect.deaths,
            )
        return counted

    def update(self, suspect: Suspect) -> None:
        """Store ``suspect`` as it now stands."""
        with self._locked() as suspects:
            suspects[suspect.tp] = suspect

    def clear(self, tp: TopicPartition) -> None:
        """``tp`` has no suspects left."""
        with self._locked() as suspects:
            suspects.pop(tp, None)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[TopicPartition, Suspect]]:
        self._directory.mkdir(parents=True, exist_ok=True)
        with (self._directory / "ledger.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            suspects = {s.tp: s for s in self.read()}
            yield suspects
            write_json(self._path, {"suspects": [asdict(s) for s in suspects.values()]})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_json(path: Path) -> dict[str, Any] | None:
    """``path``'s JSON object; None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # not there (yet), or not readable: nothing known
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` at once (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    temporary.replace(path)
