"""The file source: CSV and JSONL files in a directory, each produced once, resumably.

The directory is polled (every ``poll_interval_s``; polling works on every filesystem,
network mounts included, where change notifications do not). Each listing takes the
matching files in name order and reads each one's new complete lines in steps of
``batch_lines``. Every step is one ``context.send`` whose position — keyed by the file's
name — says where the next step starts::

    {"offset": 52311, "line": 1000, "size": 98000, "done": false,
     "head": "<hash of the first bytes>", "head_len": 4096}

so a restarted source seeks to ``offset`` and goes on (re-reading a CSV header first).
A file that has not changed for ``settle_s`` is complete: its last line counts even
without a newline, and its final step says ``done``; a done file is never read again.
A file whose first bytes no longer match ``head`` was replaced and is read from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamworks.connectors.base.errors import ConnectorConfigError, ConversionError
from streamworks.connectors.base.records import Position, SourceRecord
from streamworks.connectors.base.source import Source, SourceContext
from streamworks.connectors.files._formats import (
    LineParser,
    MalformedLine,
    format_of,
    parser_for,
    shown,
)
from streamworks.connectors.files._reader import HEAD_BYTES, Chunk, FileCursor, fingerprint
from streamworks.connectors.files.config import FileSourceConfig

__all__ = ["FileSource"]

logger = logging.getLogger(__name__)

DONE_DIRECTORY = "done"
"""Subdirectory done files are moved to under ``done_action: move``."""


@dataclass
class _File:
    """What the source knows of one file while it runs."""

    name: str
    cursor: FileCursor | None = None
    parse: LineParser | None = None
    head: str | None = None
    head_len: int = 0
    done: bool = False
    seen: tuple[int, int, int] | None = None
    """(inode, size, mtime) when found done: unchanged files are not looked at again."""


class FileSource(Source):
    """Reads ``config.directory`` until the worker drains (or, optionally, all is done)."""

    def __init__(self, config: FileSourceConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self._files: dict[str, _File] = {}

    async def run(self, context: SourceContext) -> None:
        """Poll, read, produce; return when draining or when every file is done."""
        directory = self.config.directory
        if not directory.is_dir():
            raise ConnectorConfigError(
                f"connector {self.name}: directory {directory} does not exist; create it "
                "or fix directory in the connector file"
            )
        try:
            while not context.stopping.is_set():
                names = await asyncio.to_thread(self._list)
                for name in names:
                    if context.stopping.is_set():
                        break
                    await self._read_file(context, name)
                if self.config.exit_when_done and all(self._done(n) for n in names):
                    logger.info("source %s: every file is done", self.name)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        context.stopping.wait(), timeout=self.config.poll_interval_s
                    )
        finally:
            for known in self._files.values():
                if known.cursor is not None:
                    known.cursor.close()

    def _done(self, name: str) -> bool:
        known = self._files.get(name)
        return known is None or known.done  # None: moved to done/ in this listing

    def _list(self) -> list[str]:
        names = []
        with os.scandir(self.config.directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file():
                    continue  # hidden names are what careful writers use for partial files
                if any(fnmatch.fnmatchcase(entry.name, p) for p in self.config.patterns):
                    names.append(entry.name)
        for gone in set(self._files) - set(names):
            known = self._files.pop(gone)
            if known.cursor is not None:
                known.cursor.close()
        return sorted(names)

    # -- one file --------------------------------------------------------------------------
    async def _read_file(self, context: SourceContext, name: str) -> None:
        path = self.config.directory / name
        known = self._files.get(name)
        if known is not None and known.done:
            if _signature(path) == known.seen:
                return
            self._files.pop(name)  # changed since it was done: look again below
            known = None
        if known is None:
            stored = context.position(name)
            known = self._files[name] = await asyncio.to_thread(self._open, path, stored)
            if known.done:
                await self._finish(path, known)
                return
        while not context.stopping.is_set():
            chunk, good, bad = await asyncio.to_thread(self._step, path, known)
            if not chunk.lines and not chunk.done:
                return  # nothing new yet
            await context.send(
                good, partition=name, position=self._position(known, chunk), failed=bad
            )
            if chunk.done:
                logger.info("source %s: %s done (%d lines)", self.name, name, chunk.line)
                await self._finish(path, known)
                return

    def _open(self, path: Path, stored: Position | None) -> _File:
        """The file's state from its stored position (blocking: run in a thread)."""
        name = path.name
        known = _File(name)
        if stored is not None and not _same_file(path, stored):
            logger.warning(
                "source %s: %s is not the file its position was stored for (its first bytes "
                "differ); reading it from the start",
                self.name,
                name,
            )
            stored = None
        if stored is not None:
            known.head, known.head_len = stored.get("head"), int(stored.get("head_len", 0))
            if stored.get("done"):
                known.done = True
                return known
        offset = int(stored["offset"]) if stored else 0
        line = int(stored["line"]) if stored else 0
        known.cursor = FileCursor(path, offset, line)
        return known

    def _step(
        self, path: Path, known: _File
    ) -> tuple[Chunk, list[SourceRecord], list[tuple[SourceRecord, ConversionError]]]:
        """Read and parse the next lines (blocking: run in a thread)."""
        cursor = known.cursor
        assert cursor is not None  # noqa: S101 - only open files are stepped
        good: list[SourceRecord] = []
        bad: list[tuple[SourceRecord, ConversionError]] = []
        fmt = format_of(path.name)
        if known.parse is None:
            header = cursor.first_line(self.config.settle_s) if fmt == "csv" else None
            if fmt == "csv" and header is None:
                return Chunk(offset=cursor.offset, line=cursor.line), good, bad
            known.parse = self._parser(path.name, header)
        chunk = cursor.read(self.config.batch_lines, self.config.settle_s)
        topic, csv = self.config.topic, fmt == "csv"
        for number, raw in chunk.lines:
            if csv and number == 1:
                continue  # the header
            if not raw.strip():
                continue  # blank lines carry nothing
            location = f"{path.name} line {number}"
            try:
                value = known.parse(raw)
            except MalformedLine as error:
                record = SourceRecord(topic, {"raw": shown(raw)}, location=location)
                bad.append((record, ConversionError(f"{location}: {error}", location=location)))
                continue
            good.append(SourceRecord(topic, value, location=location, text=csv))
        if known.head_len < HEAD_BYTES:
            known.head_len = min(chunk.offset, HEAD_BYTES)
            known.head = fingerprint(path, known.head_len)
        return chunk, good, bad

    def _parser(self, name: str, header: bytes | None) -> LineParser:
        fmt = format_of(name) or "jsonl"
        try:
            return parser_for(fmt, header, self.config.csv_delimiter)
        except MalformedLine as error:
            reason = f"the CSV header (line 1) is unusable: {error}"
            logger.warning("source %s: %s: %s", self.name, name, reason)

            def unusable(raw: bytes) -> dict[str, Any]:
                raise MalformedLine(reason)

            return unusable

    @staticmethod
    def _position(known: _File, chunk: Chunk) -> Position:
        return {
            "offset": chunk.offset,
            "line": chunk.line,
            "size": chunk.size,
            "done": chunk.done,
            "head": known.head,
            "head_len": known.head_len,
        }

    async def _finish(self, path: Path, known: _File) -> None:
        known.done = True
        if known.cursor is not None:
            known.cursor.close()
            known.cursor = None
        if self.config.done_action == "move":
            await asyncio.to_thread(_move_done, path)
            self._files.pop(known.name, None)
        else:
            known.seen = _signature(path)


def _same_file(path: Path, stored: Position) -> bool:
    length = int(stored.get("head_len", 0))
    head = stored.get("head")
    if head is None or length == 0:  # nothing was read from it: only emptiness to compare
        return not stored.get("done") or _size(path) == 0
    return bool(fingerprint(path, length) == head)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


def _move_done(path: Path) -> None:
    """Move ``path`` into ``done/`` beside it, never over an earlier file of that name."""
    folder = path.parent / DONE_DIRECTORY
    folder.mkdir(exist_ok=True)
    target, n = folder / path.name, 0
    while target.exists():
        n += 1
        target = folder / f"{path.stem}.{n}{path.suffix}"
    path.rename(target)
    logger.info("moved %s to %s", path, target)
