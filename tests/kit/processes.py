"""Looking at process trees from outside, as ``ps`` does (Linux ``/proc``)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

__all__ = ["alive", "children", "kill_all"]


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name; None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (dead, its parent has not reaped it) is not alive."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children(parent: int) -> list[int]:
    """The live processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == parent and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def kill_all(pids: list[int]) -> None:
    """SIGKILL whichever of ``pids`` still run (a test's clean-up after a failure)."""
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
