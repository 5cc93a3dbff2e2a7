"""The crash-loop quarantine's bookkeeping: markers, the ledger, pieces and the culprit.

A worker "dies" here by leaving its marker behind under a pid no process has, as a killed
process would, and the test folds it with an exit status, as
:class:`~streamworks.ops.supervisor.Supervisor` does when it reaps one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from confluent_kafka import KafkaError

from streamworks.core.messages import InMessage
from streamworks.kafka.rdkafka import KafkaClientError
from streamworks.runtime.breaker import StageStopped
from streamworks.runtime.crash_ledger import (
    crash_directory,
    exit_reason,
    fold_dead_worker,
    stopped_itself,
)
from streamworks.runtime.crash_marker import MARKER_NAME, MarkerFile, read_marker
from streamworks.runtime.crashloop import CrashGuard, is_the_records

_PIDS = itertools.count(1_000_000_000)  # above any pid_max: no process has these
TP = TopicPartition("orders", 0)
OTHER = TopicPartition("orders", 1)


def _batch(tp: TopicPartition, first: int, last: int) -> dict[TopicPartition, list[InMessage]]:
    return {tp: [InMessage(tp.topic, tp.partition, o, None, None) for o in range(first, last + 1)]}


def _die(state: Path, batch: dict[TopicPartition, list[InMessage]], reason: str) -> None:
    """A worker (a pid no process has) marked ``batch`` and died; its supervisor reaps it."""
    pid = next(_PIDS)
    ranges = [[tp.topic, tp.partition, rs[0].offset, rs[-1].offset] for tp, rs in batch.items()]
    marker = _leave_marker(state, pid, ranges)
    assert fold_dead_worker(state, pid, reason)
    assert not marker.exists()


def _leave_marker(state: Path, pid: int, ranges: list[list[object]]) -> Path:
    """The marker worker ``pid`` of group g leaves when it dies with ``ranges`` in flight."""
    marker = MarkerFile(crash_directory(state, "g") / MARKER_NAME.format(pid=pid, worker="w"))
    marker.write({"pid": pid, "ranges": ranges})
    return marker.path


def _guard(state: Path, *, after: int = 3, pipelined: bool = False) -> CrashGuard:
    guard = CrashGuard(crash_directory(state, "g"), "me", after=after, pipelined=pipelined)
    guard.refresh()
    return guard


def test_deaths_with_the_same_records_narrow_the_suspects(tmp_path: Path) -> None:
    _die(tmp_path, _batch(TP, 100, 199), "killed by SIGSEGV")
    _die(tmp_path, _batch(TP, 100, 149), "killed by SIGSEGV")
    _die(tmp_path, _batch(TP, 120, 260), "killed by SIGSEGV")
    guard = _guard(tmp_path)
    pieces = guard.pieces(_batch(TP, 100, 300))
    # the innocent head, each of 120..149 alone, then the rest
    assert [(min(r.offset for r in p[TP]), max(r.offset for r in p[TP])) for p, _ in pieces] == [
        (100, 119),
        *((o, o) for o in range(120, 150)),
        (150, 300),
    ]
    assert [alone for _, alone in pieces] == [False] + [True] * 30 + [False]
    assert guard.culprit(TP, 120) is None  # three deaths, but thirty suspects


def test_the_record_that_kills_its_worker_alone_is_the_culprit(tmp_path: Path) -> None:
    for _ in range(2):
        _die(tmp_path, _batch(TP, 10, 19), "killed by SIGABRT")
    _die(tmp_path, _batch(TP, 10, 19), "exit 1")
    guard = _guard(tmp_path)
    for piece, alone in guard.pieces(_batch(TP, 10, 19))[:3]:  # 10, 11, 12 get through
        assert alone
        guard.begin(piece, alone=True)
        guard.handled(piece, settled=True)
    _die(tmp_path, _batch(TP, 13, 13), "killed by SIGABRT")  # 13 kills it
    guard = _guard(tmp_path)
    assert guard.culprit(TP, 14) is None
    error = guard.culprit(TP, 13)
    assert error is not None
    assert "died 4 times" in str(error)
    assert "killed by SIGABRT" in str(error)
    guard.handled(_batch(TP, 13, 13), settled=True)  # dead-lettered and committed
    assert _guard(tmp_path).pieces(_batch(TP, 13, 20)) == [(_batch(TP, 13, 20), False)]


def test_the_last_suspect_left_is_not_the_culprit_for_being_last(tmp_path: Path) -> None:
    for _ in range(3):
        _die(tmp_path, _batch(TP, 0, 2), "killed by SIGKILL")  # killed from outside, say
    guard = _guard(tmp_path)
    for offset in (0, 1):
        guard.handled(_batch(TP, offset, offset), settled=True)
    assert guard.culprit(TP, 2) is None
    assert guard.pieces(_batch(TP, 2, 5))[0] == (_batch(TP, 2, 2), True)


def test_deaths_on_different_records_do_not_add_up(tmp_path: Path) -> None:
    _die(tmp_path, _batch(TP, 0, 99), "killed by SIGKILL")
    _die(tmp_path, _batch(TP, 100, 199), "killed by SIGKILL")
    _die(tmp_path, _batch(TP, 200, 299), "killed by SIGKILL")
    guard = _guard(tmp_path)
    assert guard.pieces(_batch(TP, 200, 299)) == [(_batch(TP, 200, 299), False)]


def test_other_partitions_are_not_held_back(tmp_path: Path) -> None:
    for _ in range(3):
        _die(tmp_path, {**_batch(TP, 5, 6), **_batch(OTHER, 50, 50)}, "killed by SIGKILL")
    guard = _guard(tmp_path)
    batch = {**_batch(TP, 0, 9), **_batch(OTHER, 40, 49)}  # OTHER is below its suspect
    pieces = guard.pieces(batch)
    assert pieces[0] == ({OTHER: batch[OTHER], TP: batch[TP][:5]}, False)
    assert pieces[1:3] == [(_batch(TP, 5, 5), True), (_batch(TP, 6, 6), True)]
    assert pieces[3] == (_batch(TP, 7, 9), False)


def test_under_at_least_once_a_piece_clears_once_the_next_settled_it(tmp_path: Path) -> None:
    for _ in range(2):  # below the limit: suspects, but no pieces yet
        _die(tmp_path, _batch(TP, 0, 9), "killed by SIGKILL")
    guard = _guard(tmp_path, pipelined=True)
    guard.begin(_batch(TP, 0, 9), alone=False)
    guard.handled(_batch(TP, 0, 9), settled=False)  # handed to the producer, not acknowledged
    assert guard.culprit(TP, 0) is None
    assert _guard(tmp_path, after=2).pieces(_batch(TP, 0, 0)) == [(_batch(TP, 0, 0), True)]
    guard.begin(_batch(TP, 10, 19), alone=False)
    [path] = (tmp_path / "crashes" / "g").glob(MARKER_NAME.format(pid="*", worker="me"))
    marker = read_marker(path)
    assert marker is not None
    assert marker["ranges"] == [["orders", 0, 0, 19]]  # the piece in flight is still marked
    guard.handled(_batch(TP, 10, 19), settled=False)  # 0..9 acknowledged now
    assert _guard(tmp_path, after=2).pieces(_batch(TP, 0, 0)) == [(_batch(TP, 0, 0), False)]


def test_a_worker_that_ends_for_no_record_leaves_no_marker(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    guard.begin(_batch(TP, 0, 9), alone=False)
    guard.failed(KafkaConnectionError("broker gone"))
    assert fold_dead_worker(tmp_path, os.getpid(), "exit 1") == []
    guard.begin(_batch(TP, 0, 9), alone=False)
    guard.failed(MessageSizeTooLargeError())
    [suspect] = fold_dead_worker(tmp_path, os.getpid(), "exit 1")
    assert suspect.reason.startswith("exit 1: MessageSizeTooLargeError")


def test_a_marker_is_counted_once_even_by_a_worker_that_finds_it(tmp_path: Path) -> None:
    pid = next(_PIDS)
    marker = _leave_marker(tmp_path, pid, [["orders", 0, 3, 4]])
    _guard(tmp_path)  # folds it
    _guard(tmp_path)
    [suspect] = json.loads((marker.parent / "ledger.json").read_text())["suspects"]
    assert (suspect["deaths"], suspect["first"], suspect["last"]) == (1, 3, 4)
    assert f"pid {pid} ended" in suspect["reason"]


def test_what_counts_as_a_records_doing() -> None:
    assert is_the_records(MemoryError())
    assert is_the_records(RecursionError())
    assert is_the_records(MessageSizeTooLargeError())
    assert not is_the_records(KafkaConnectionError())
    assert not is_the_records(asyncio.CancelledError())
    assert not is_the_records(ConnectionResetError())
    assert not is_the_records(StageStopped.__new__(StageStopped))
    # librdkafka's errors: a record refused for its content, or the cluster out of reach
    assert is_the_records(KafkaClientError("producing", KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)))
    assert not is_the_records(KafkaClientError("producing", KafkaError(KafkaError._TRANSPORT)))


@pytest.mark.parametrize(
    ("code", "words"), [(-6, "killed by SIGABRT"), (-9, "killed by SIGKILL"), (1, "exit 1")]
)
def test_exit_reasons(code: int, words: str) -> None:
    assert exit_reason(code) == words


def test_off_writes_nothing(tmp_path: Path) -> None:
    guard = _guard(tmp_path, after=0)
    guard.begin(_batch(TP, 0, 9), alone=False)
    assert not (tmp_path / "crashes").exists()


def test_a_stage_that_stopped_itself_says_so_once(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    guard.begin(_batch(TP, 0, 9), alone=False)
    guard.failed(StageStopped.__new__(StageStopped))
    assert fold_dead_worker(tmp_path, os.getpid(), "exit 1") == []  # no record's doing
    assert stopped_itself(tmp_path, os.getpid())
    assert not stopped_itself(tmp_path, os.getpid())


def test_a_state_dir_it_cannot_write_turns_it_off_not_the_stage(tmp_path: Path) -> None:
    (tmp_path / "crashes").write_text("a file where the folder should be")
    guard = _guard(tmp_path)
    guard.begin(_batch(TP, 0, 9), alone=False)  # no error
    assert not guard.enabled
    assert guard.pieces(_batch(TP, 0, 9)) == [(_batch(TP, 0, 9), False)]
