"""The JSONL sink: records appended to files that rotate by size and age.

Each record is one line, a JSON object::

    {"topic":"orders.enriched","partition":2,"offset":1041,"key":"9f1c...",
     "timestamp":"2026-11-27T09:00:00.000Z","value":{...the decoded record...}}

Times in values are ISO 8601 text, bytes base64, UUIDs and decimals text; a tombstone has
``"value": null``. A file is written as ``<prefix>-<start time>-<seq>.jsonl.part`` and
renamed to ``<prefix>-<start time>-<seq>.jsonl`` when it is rotated or the sink closes,
so a reader that ignores ``.part`` only ever sees complete files. ``flush`` fsyncs, and
the runtime commits offsets only after it, so a crash loses nothing; but a batch written
before the crash and delivered again afterwards appears twice (at-least-once): readers
that need each record once drop repeats by ``(topic, partition, offset)``.

A ``.part`` file left by a crashed worker holds flushed (committed) lines: the next start
cuts a torn last line off it and renames it complete. Each open ``.part`` file is locked
(``flock``) by its writer, so a worker never finishes another live worker's file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, ParamSpec

from streamworks.connectors.base.documents import record_document, to_json
from streamworks.connectors.base.errors import TransientError
from streamworks.connectors.base.records import SinkRecord
from streamworks.connectors.base.sink import Sink, SinkContext
from streamworks.connectors.files.config import JsonlSinkConfig

__all__ = ["JsonlSink"]

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")

PART = ".part"
_STALE_EMPTY_S = 60.0
"""An empty ``.part`` file younger than this may be a live writer's that is not locked yet."""


class _Open:
    """The file being written: its handle, names, size and age."""

    def __init__(self, handle: IO[bytes], final: Path) -> None:
        self.handle = handle
        self.final = final
        self.part = final.with_name(final.name + PART)
        self.size = 0
        self.opened = time.monotonic()


class JsonlSink(Sink):
    """Appends every record as a JSON line; see the module docstring for the file shapes."""

    def __init__(self, config: JsonlSinkConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self._current: _Open | None = None
        self._seq = 0
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    @property
    def directory(self) -> Path:
        """Where the files are written."""
        return self.config.directory

    async def start(self, context: SinkContext) -> None:
        """Create the directory, finish files a crashed worker left, start the age check."""
        await asyncio.to_thread(self._recover)
        self._timer = asyncio.create_task(self._rotate_by_age(), name=f"{self.name}-rotate")

    async def write(self, batch: Sequence[SinkRecord]) -> None:
        """Append ``batch`` (buffered until :meth:`flush`)."""
        lines = [(to_json(record_document(r)) + "\n").encode() for r in batch]
        async with self._lock:
            await asyncio.to_thread(self._guarded, self._append, lines)

    async def flush(self) -> None:
        """Make every written line durable (fsync)."""
        async with self._lock:
            if self._current is not None:
                await asyncio.to_thread(self._guarded, self._sync, self._current)

    async def close(self) -> None:
        """Stop the age check and publish the current file."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        async with self._lock:
            await asyncio.to_thread(self._guarded, self._rotate)

    # -- blocking parts, run in a thread ---------------------------------------------------
    def _guarded(self, step: Callable[_P, None], *args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            step(*args, **kwargs)
        except OSError as error:  # a full disk or a lost mount may come back
            raise TransientError(
                f"connector {self.name}: cannot write to {self.directory}: {error}"
            ) from error

    def _append(self, lines: list[bytes]) -> None:
        current = self._current
        if current is not None and time.monotonic() - current.opened >= self.config.rotate_s:
            self._rotate()
        pending: list[bytes] = []
        size = 0
        for line in lines:
            if self._current is None:
                self._current = self._open()
            filled = self._current.size + size
            if filled and filled + len(line) > self.config.rotate_bytes:
                self._write(self._current, pending)
                pending, size = [], 0
                self._rotate()
                self._current = self._open()
            pending.append(line)
            size += len(line)
        if pending and self._current is not None:
            self._write(self._current, pending)

    @staticmethod
    def _write(current: _Open, lines: list[bytes]) -> None:
        data = b"".join(lines)
        current.handle.write(data)
        current.size += len(data)

    @staticmethod
    def _sync(current: _Open) -> None:
        current.handle.flush()
        os.fsync(current.handle.fileno())

    def _open(self) -> _Open:
        self.directory.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        while True:
            final = self.directory / f"{self.config.prefix}-{started}-{self._seq}.jsonl"
            self._seq += 1
            if final.exists():
                continue
            try:
                handle = final.with_name(final.name + PART).open("xb")
            except FileExistsError:
                continue  # another worker with this prefix took the name
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            logger.info("sink %s: writing %s", self.name, handle.name)
            return _Open(handle, final)

    def _rotate(self) -> None:
        """Close the current file (fsynced) and give it its complete name."""
        current = self._current
        if current is None:
            return
        self._sync(current)
        current.part.rename(current.final)
        self._current = None  # only now: a failure above leaves it to be tried again
        _sync_directory(self.directory)
        current.handle.close()  # releases the lock only once the file is complete
        logger.info("sink %s: closed %s (%d bytes)", self.name, current.final, current.size)

    def _recover(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for part in sorted(self.directory.glob(f"{self.config.prefix}-*.jsonl{PART}")):
            with part.open("r+b") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live worker is writing it
                data = handle.read()
                if not data and time.time() - part.stat().st_mtime < _STALE_EMPTY_S:
                    continue  # maybe just created by a writer about to lock it
                whole = data.rfind(b"\n") + 1  # a torn last line was never flushed
                handle.truncate(whole)
                handle.flush()
                os.fsync(handle.fileno())
                final = part.with_name(part.name.removesuffix(PART))
                if whole == 0:
                    part.unlink()
                elif not final.exists():
                    part.rename(final)
                    logger.info("sink %s: finished %s left by a stopped worker", self.name, final)
        _sync_directory(self.directory)

    async def _rotate_by_age(self) -> None:
        tick = min(self.config.rotate_s / 4, 1.0)
        while True:
            await asyncio.sleep(tick)
            current = self._current
            if current is None or time.monotonic() - current.opened < self.config.rotate_s:
                continue
            async with self._lock:
                if self._current is not current:
                    continue  # rotated meanwhile
                try:
                    await asyncio.to_thread(self._guarded, self._rotate)
                except TransientError as error:  # the next write or close tries again
                    logger.warning("sink %s: %s", self.name, error)


def _sync_directory(directory: Path) -> None:
    """Make renames in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
