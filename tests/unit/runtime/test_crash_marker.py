"""The crash-loop marker file: what a reader finds after a write, a torn write, a growth,
and a worker killed outright."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from streamworks.runtime.crash_ledger import crash_directory, exit_reason, fold_dead_worker
from streamworks.runtime.crash_marker import MARKER_NAME, MarkerFile, read_marker

_HEADER = struct.Struct("<4sI")  # the layout the module docstring gives
_SLOT_HEADER = 16


def _document(first: int, partitions: int = 1) -> dict[str, Any]:
    return {"pid": 42, "ranges": [["orders", p, first, first + 9] for p in range(partitions)]}


def _marker(tmp_path: Path) -> MarkerFile:
    return MarkerFile(tmp_path / MARKER_NAME.format(pid=42, worker="w"))


def test_a_reader_finds_the_last_document_written_in_place(tmp_path: Path) -> None:
    marker = _marker(tmp_path)
    marker.write(_document(0))
    inode = marker.path.stat().st_ino
    for first in range(10, 60, 10):  # both slots, in turn
        marker.write(_document(first))
        assert read_marker(marker.path) == _document(first)
    assert marker.path.stat().st_ino == inode  # the same file: written in place
    assert [p.name for p in tmp_path.iterdir()] == [marker.path.name]


def test_a_write_torn_at_any_byte_leaves_the_marker_before_it(tmp_path: Path) -> None:
    marker = _marker(tmp_path)
    marker.write(_document(0))
    marker.write(_document(10))
    before = marker.path.read_bytes()
    marker.write(_document(20, partitions=3))
    after = marker.path.read_bytes()
    # the bytes the write changed, in the order it writes them: the payload, then the
    # length and CRC, the sequence number last
    slot = _HEADER.size + _HEADER.unpack_from(after)[1]  # the third write's slot: the second
    changed = sorted(
        (i for i in range(len(after)) if before[i] != after[i]),
        key=lambda i: (i < slot + _SLOT_HEADER, i < slot + 8, i),
    )
    assert changed
    torn = tmp_path / "torn"
    for written in range(len(changed)):
        state = bytearray(before)
        for i in changed[:written]:
            state[i] = after[i]
        torn.write_bytes(state)
        assert read_marker(torn) == _document(10), f"killed after {written} bytes"


def test_a_corrupt_slot_is_passed_over(tmp_path: Path) -> None:
    marker = _marker(tmp_path)
    marker.write(_document(0))
    marker.write(_document(10))  # the first slot (its sequence number is even)
    data = bytearray(marker.path.read_bytes())
    data[_HEADER.size + _SLOT_HEADER + 3] ^= 0xFF
    marker.path.write_bytes(data)
    assert read_marker(marker.path) == _document(0)
    slot_size = _HEADER.unpack_from(data)[1]
    data[_HEADER.size + slot_size + _SLOT_HEADER + 3] ^= 0xFF
    marker.path.write_bytes(data)
    assert read_marker(marker.path) is None


def test_what_is_not_a_marker_reads_as_none(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_document(0)))  # the JSON markers of earlier versions
    assert read_marker(old) is None
    assert read_marker(tmp_path / "missing") is None
    (tmp_path / "short").write_bytes(b"SW")
    assert read_marker(tmp_path / "short") is None


def test_a_document_too_big_for_its_slot_grows_the_file(tmp_path: Path) -> None:
    marker = _marker(tmp_path)
    marker.write(_document(0))
    small = marker.path.stat().st_size
    big = _document(10, partitions=500)
    assert len(json.dumps(big)) > small
    marker.write(big)
    assert read_marker(marker.path) == big
    grown = marker.path.stat()
    assert grown.st_size > len(json.dumps(big)) * 2
    marker.write(_document(20))  # fits the grown slots: in place again
    marker.write(_document(30))
    assert read_marker(marker.path) == _document(30)
    assert marker.path.stat().st_ino == grown.st_ino
    assert [p.name for p in tmp_path.iterdir()] == [marker.path.name]


def test_remove_deletes_it_and_a_write_after_makes_a_new_one(tmp_path: Path) -> None:
    marker = _marker(tmp_path)
    marker.write(_document(0))
    marker.remove()
    assert not marker.path.exists()
    marker.remove()  # twice is fine
    marker.write(_document(10))
    assert read_marker(marker.path) == _document(10)


_KILLED_WORKER = """\
import os, signal, sys
from dataclasses import dataclass
from pathlib import Path

from aiokafka import TopicPartition

from streamworks.runtime.crashloop import CrashGuard


@dataclass
class Record:
    offset: int


guard = CrashGuard(Path(sys.argv[1]), "w")
tp = TopicPartition("orders", 3)
guard.begin({tp: [Record(0), Record(9)]}, alone=True)
guard.begin({tp: [Record(10), Record(19)]}, alone=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_marker_of_a_worker_killed_outright_is_folded(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_WORKER, str(crash_directory(tmp_path, "g"))],
        stderr=subprocess.PIPE,
        text=True,
    ) as worker:
        _, errors = worker.communicate(timeout=60)
    assert worker.returncode == -signal.SIGKILL, errors
    [suspect] = fold_dead_worker(tmp_path, worker.pid, exit_reason(worker.returncode))
    assert (suspect.topic, suspect.partition, suspect.first, suspect.last) == ("orders", 3, 10, 19)
    assert (suspect.deaths, suspect.reason) == (1, "killed by SIGKILL")
    assert list(crash_directory(tmp_path, "g").glob("worker-*")) == []
