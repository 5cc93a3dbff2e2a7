"""The local state of one partition of an aggregation: JSON values by key, on RocksDB.

Changes made while a batch is processed stay in memory (``pending()``) until the batch's
outputs, changelog records and input offsets are committed; only then are they written to
RocksDB with ``commit()``, together with the changelog offset they correspond to (the
checkpoint). So the local database never holds a change the changelog topic may not have,
and a restart replays the changelog from the checkpoint instead of from the beginning.

Without a directory the store keeps everything in memory (the test driver, and stores whose
durability is the changelog alone).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

__all__ = ["Store", "open_store"]

logger = logging.getLogger(__name__)

_CHECKPOINT = b"\x00\x00checkpoint"
_CACHE_LIMIT = 200_000
_MISSING = object()


class Store:
    """Key -> JSON value; reads see pending changes; ``commit()`` makes them durable."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._db: Rdict | None = None
        self._memory: dict[bytes, bytes] = {}
        self._pending: dict[str, Any] = {}
        self._cache: dict[str, Any] = {}
        if path is not None:
            self._db = _open(path)
        self._write_options = WriteOptions()
        # the changelog is the durable log (rocksdict's stub calls this a method; it is not)
        self._write_options.disable_wal = True  # type: ignore[method-assign, assignment]

    # -- reads and writes while processing -------------------------------------------------

    def get(self, key: str) -> Any:
        """The value of ``key`` (pending changes included), or None."""
        value = self._pending.get(key, _MISSING)
        if value is _MISSING:
            value = self._cache.get(key, _MISSING)
        if value is not _MISSING:
            return value
        raw = self._read(key.encode())
        decoded = None if raw is None else orjson.loads(raw)
        self._cache[key] = decoded
        return decoded

    def put(self, key: str, value: Any) -> None:
        """Set ``key`` (pending until ``commit()``); None deletes it."""
        self._pending[key] = value
        self._cache[key] = value

    def delete(self, key: str) -> None:
        """Remove ``key`` (pending until ``commit()``)."""
        self.put(key, None)

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every key and value, pending changes included (for rebuilding indexes)."""
        seen: set[str] = set()
        for key, value in list(self._pending.items()):
            seen.add(key)
            if value is not None:
                yield key, value
        for raw_key, raw in self._raw_items():
            key = raw_key.decode()
            if key not in seen:
                yield key, orjson.loads(raw)

    def pending(self) -> list[tuple[bytes, bytes | None]]:
        """The pending changes as changelog records: ``(key, JSON or None for a delete)``."""
        return [
            (key.encode(), None if value is None else orjson.dumps(value))
            for key, value in self._pending.items()
        ]

    def has_pending(self) -> bool:
        """True when changes wait for ``commit()``."""
        return bool(self._pending)

    # -- durability --------------------------------------------------------------------------

    def commit(self, checkpoint: int | None) -> None:
        """Make pending changes durable; ``checkpoint`` is the next changelog offset after them."""
        if self._db is None:
            for key, value in self._pending.items():
                if value is None:
                    self._memory.pop(key.encode(), None)
                else:
                    self._memory[key.encode()] = orjson.dumps(value)
            if checkpoint is not None:
                self._memory[_CHECKPOINT] = str(checkpoint).encode()
        else:
            batch = WriteBatch(raw_mode=True)
            for key, value in self._pending.items():
                if value is None:
                    batch.delete(key.encode())
                else:
                    batch.put(key.encode(), orjson.dumps(value))
            if checkpoint is not None:
                batch.put(_CHECKPOINT, str(checkpoint).encode())
            self._db.write(batch, self._write_options)
        self._pending.clear()
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()

    def discard(self) -> None:
        """Forget pending changes (their transaction was aborted)."""
        self._pending.clear()
        self._cache.clear()

    @property
    def checkpoint(self) -> int | None:
        """The next changelog offset to replay, or None when nothing was ever committed."""
        raw = self._read(_CHECKPOINT)
        return None if raw is None else int(raw)

    def apply(self, records: list[tuple[bytes, bytes | None]], checkpoint: int) -> None:
        """Write changelog records replayed from the topic, then the new checkpoint."""
        self._cache.clear()
        if self._db is None:
            for key, value in records:
                if value is None:
                    self._memory.pop(key, None)
                else:
                    self._memory[key] = value
            self._memory[_CHECKPOINT] = str(checkpoint).encode()
            return
        batch = WriteBatch(raw_mode=True)
        for key, value in records:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(_CHECKPOINT, str(checkpoint).encode())
        self._db.write(batch, self._write_options)

    def wipe(self) -> None:
        """Drop everything, on disk too (before a restore from the changelog's start)."""
        self._pending.clear()
        self._cache.clear()
        self._memory.clear()
        if self._db is not None and self.path is not None:
            self._db.close()
            Rdict.destroy(str(self.path))
            shutil.rmtree(self.path, ignore_errors=True)
            self._db = _open(self.path)

    def close(self) -> None:
        """Release the database (pending changes are dropped)."""
        self._pending.clear()
        self._cache.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- raw access --------------------------------------------------------------------------

    def _read(self, key: bytes) -> bytes | None:
        if self._db is None:
            return self._memory.get(key)
        value = self._db.get(key)
        return value if isinstance(value, bytes) else None

    def _raw_items(self) -> Iterator[tuple[bytes, bytes]]:
        source = self._memory.items() if self._db is None else self._db.items()
        for key, value in source:
            if isinstance(key, bytes) and isinstance(value, bytes) and key != _CHECKPOINT:
                yield key, value


def _open(path: Path) -> Rdict:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    return Rdict(str(path), options=options)


def open_store(directory: Path, partition: int) -> Store:
    """The store of ``partition`` under ``directory``, or a private one if that is in use.

    Two workers on one machine may share a state directory; a partition's directory is then
    held by whichever of them owns (or keeps a standby of) it, and the other one rebuilds a
    private copy from the changelog, named after its process id.
    """
    path = directory / str(partition)
    try:
        return Store(path)
    except Exception as error:  # rocksdict reports a held lock as a plain Exception
        if "lock" not in str(error).lower():
            raise
    private = directory / f"{partition}.{os.getpid()}"
    shutil.rmtree(private, ignore_errors=True)
    logger.info("state of partition %d is in use at %s; using %s", partition, path, private)
    return Store(private)
