"""One ``streamworks run`` per pipeline and state directory.

A second ``run`` of a running pipeline would start a second set of workers in the same
groups. The first ``run`` holds an exclusive ``flock`` on ``<state dir>/<pipeline>.run.lock``
and writes its pid there; the kernel releases the lock when the process ends, however it
ends, so a supervisor that was killed never blocks the next ``run``. The file itself stays
(deleting a lock file on the way out races with the next one to open it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from streamworks.core.errors import ConfigurationError, StreamworksError

__all__ = ["PipelineRunningError", "lock_path", "run_lock"]

_READ_TRIES = 20
"""Reads of the holder's pid (it writes it right after it takes the lock)."""


class PipelineRunningError(StreamworksError):
    """The pipeline is already being run from the same state directory."""

    def __init__(self, pipeline: str, lock: Path, pid: int | None) -> None:
        self.pipeline = pipeline
        """The pipeline's name."""
        self.lock = lock
        """The lock file its running supervisor holds."""
        self.pid = pid
        """That supervisor's pid (None if it could not be read)."""
        holder, advice = "pid not known yet", "stop it first"
        if pid is not None:
            holder = f"pid {pid}"
            advice = f"stop it first (kill {pid}: its workers drain and commit)"
        super().__init__(
            f"pipeline {pipeline} is already running from state directory {lock.parent} "
            f"(streamworks run, {holder}); {advice}"
        )


def lock_path(pipeline: str, state_dir: Path) -> Path:
    """The lock file of ``pipeline``'s ``run`` in ``state_dir``."""
    return state_dir.absolute() / f"{pipeline}.run.lock"


@contextlib.contextmanager
def run_lock(pipeline: str, state_dir: Path) -> Iterator[Path]:
    """Hold ``pipeline``'s run lock in ``state_dir`` for the block; yields the lock file.

    Raises :class:`PipelineRunningError`, naming the holder's pid, when another process
    holds it.
    """
    path = lock_path(pipeline, state_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # no O_TRUNC: the file may be the running one's, its pid still to be read
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ConfigurationError(
            f"cannot create the run lock {path}: {error.strerror}; "
            "set STREAMWORKS_STATE_DIR to a writable directory"
        ) from error
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineRunningError(pipeline, path, _holder(fd)) from None
        except OSError as error:  # a file system without locks (some network mounts)
            raise ConfigurationError(
                f"cannot lock {path}: {error.strerror}; "
                "set STREAMWORKS_STATE_DIR to a directory on a local disk"
            ) from error
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode())
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # released: no pid left to mislead a reader
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> int | None:
    """The pid the lock's holder wrote, waiting briefly for a holder that just took it."""
    for _ in range(_READ_TRIES):
        text = os.pread(fd, 4096, 0)
        if text:
            try:
                pid = json.loads(text)["pid"]
            except (ValueError, KeyError, TypeError):
                return None
            return pid if isinstance(pid, int) else None
        time.sleep(0.05)
    return None
