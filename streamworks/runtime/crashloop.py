"""Crash-loop quarantine: a record that keeps killing its worker becomes a dead letter.

A record that makes its worker *die* — a segfault in a C extension, an out-of-memory kill,
an error nothing catches, an output the broker refuses at produce time — is not
dead-lettered like a record whose function raises: the process is gone before it can say
which record it was. The partition's committed offset has not moved, so the next worker
reads the same batch and dies again, for ever. This module turns that outage into one dead
letter:

* Before a worker processes a piece of a batch it writes a small **marker** naming, per
  partition, the offsets in that piece (and, under at-least-once, in the piece still in
  flight): a memory-mapped file rewritten in place, which outlives a killed process
  (:mod:`streamworks.runtime.crash_marker`). A worker that stops for a cause that is not
  a record's (a stop request, a lost broker, a stage stopped by its breaker) deletes it;
  a death leaves it behind.
* Whoever sees a dead worker's marker first — its supervisor when it reaps the process
  (which knows the exit status), or any worker of the group when it starts — folds it into
  the group's **ledger**: per partition, the suspect offsets (the intersection of the
  ranges of successive deaths) and how many deaths they have seen in a row.
* After ``after`` deaths (default 3) a worker processes the suspect offsets **one record at
  a time**, each written and committed alone. The records that get through are cleared;
  the record whose worker dies is the culprit, found at the cost of one more death. The
  next worker dead-letters it without running the stage, with
  ``streamworks.dlq.error.class=CrashLoop`` and the last exit's reason, logs one line
  naming topic, partition and offset, and goes on.

Markers and the ledger (:mod:`streamworks.runtime.crash_ledger`) live in ``<state
dir>/crashes/<group>/`` (one directory per stage), so the supervisor and its workers share
them; a pod's restarted container finds them in its volume. Ledger entries older than
:data:`~streamworks.runtime.crash_ledger.FORGET_AFTER_S` are ignored: a crash loop restarts
within seconds, and a topic recreated since could reuse its offsets.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from streamworks.core.errors import StreamworksError
from streamworks.core.messages import InMessage
from streamworks.kafka.rdkafka import KafkaClientError
from streamworks.runtime.breaker import StageStopped
from streamworks.runtime.crash_ledger import Ledger, Suspect, write_json
from streamworks.runtime.crash_marker import MARKER_NAME, MarkerFile

__all__ = ["DEFAULT_AFTER", "CrashGuard", "CrashLoop", "is_the_records"]

logger = logging.getLogger(__name__)

DEFAULT_AFTER = 3
"""Deaths with the same record in the batch after which it is tracked down."""

_RECORD_REFUSALS = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidMessageError,
    CorruptRecordException,
    InvalidTimestampError,
)
"""Produce errors the broker gives for one record's content: a record's, not an outage's."""

Batches = dict[TopicPartition, list[InMessage]]


class CrashLoop(StreamworksError):
    """A record whose worker died every time it was in the batch (the dead letter's error)."""


def is_the_records(error: BaseException) -> bool:
    """True when a worker dying of ``error`` may be a record's doing (its marker stays).

    A stop request, a broker or registry out of reach, a refused login or a stage stopped
    by its breaker are not any record's fault; a broker refusing a record's content and an
    error nobody expected may be.
    """
    if isinstance(error, _RECORD_REFUSALS):
        return True
    if isinstance(error, KafkaClientError):
        return error.refuses_record
    not_a_record = (asyncio.CancelledError, KeyboardInterrupt, KafkaError, OSError)
    return not isinstance(error, (*not_a_record, StreamworksError))


class CrashGuard:
    """One worker's side of the quarantine, for the group whose directory is ``directory``.

    ``after``: deaths before a suspect partition is replayed record by record (``0`` turns
    the quarantine off: no markers are written). ``pipelined``: a piece's outputs are still
    in flight when the next piece is processed (at-least-once), so a piece is cleared only
    once the next one was handled.
    """

    def __init__(
        self,
        directory: Path,
        worker_id: str,
        *,
        after: int = DEFAULT_AFTER,
        pipelined: bool = False,
    ) -> None:
        self.after = after
        self._pipelined = pipelined
        self._pending: Batches | None = None
        self._ledger = Ledger(directory)
        self._pid = os.getpid()  # asked once: it is a system call, and begin() makes none
        self._marker = MarkerFile(directory / MARKER_NAME.format(pid=self._pid, worker=worker_id))
        self._marked: dict[str, Any] | None = None
        """The marker as last written; None while there is none."""
        self._suspects: dict[TopicPartition, Suspect] = {}
        self._in_flight: dict[TopicPartition, tuple[int, int]] = {}

    @property
    def enabled(self) -> bool:
        """False when the quarantine is off."""
        return self.after > 0

    def refresh(self) -> None:
        """Fold markers of workers that died unseen, then read the ledger (at every
        assignment: the partitions may come with a history)."""
        if not self.enabled:
            return
        try:
            for marker, pid in self._ledger.orphans():
                self._ledger.fold(marker, f"worker pid {pid} ended (exit status not known)")
        except OSError as error:
            self._off(error)
            return
        self._suspects = {s.tp: s for s in self._ledger.read()}
        for suspect in self._suspects.values():
            if suspect.deaths >= self.after:
                logger.warning(
                    "%s[%d]: offsets %d..%d were in the batch of %d workers that died (last: "
                    "%s); processing them one at a time to find the record",
                    suspect.topic,
                    suspect.partition,
                    suspect.first,
                    suspect.last,
                    suspect.deaths,
                    suspect.reason,
                )

    def pieces(self, batches: Batches) -> list[tuple[Batches, bool]]:
        """``batches`` split so that every suspect record is a piece of its own.

        Each piece comes with True when it must be settled (written and committed) alone:
        a death while it is processed then names exactly its record. Without suspects this
        is the batch itself.
        """
        quarantined = [
            tp for tp in batches if tp in self._suspects and self._tracking(self._suspects[tp])
        ]
        if not quarantined:
            return [(batches, False)]
        pieces: list[tuple[Batches, bool]] = []
        first: Batches = {tp: rs for tp, rs in batches.items() if tp not in quarantined}
        rest: Batches = {}
        singles: list[tuple[Batches, bool]] = []
        for tp in quarantined:
            suspect = self._suspects[tp]
            before = [r for r in batches[tp] if r.offset < suspect.first]
            inside = [r for r in batches[tp] if suspect.first <= r.offset <= suspect.last]
            after = [r for r in batches[tp] if r.offset > suspect.last]
            if before:
                first[tp] = before
            singles += [({tp: [r]}, True) for r in inside]
            if after:
                rest[tp] = after
        if first:
            pieces.append((first, False))
        pieces += singles
        if rest:
            pieces.append((rest, False))
        return pieces

    def begin(self, piece: Batches, *, alone: bool) -> None:
        """Write the marker before ``piece`` is processed: its offsets, and (unless it is
        processed ``alone``, after the one before it settled) those of the piece in flight."""
        if not self.enabled:
            return
        ranges = {tp: (records[0].offset, records[-1].offset) for tp, records in piece.items()}
        marked = dict(ranges)
        if not alone:
            for tp, (first, last) in self._in_flight.items():
                low, high = marked.get(tp, (first, last))
                marked[tp] = (min(low, first), max(high, last))
        self._in_flight = ranges
        ranges_out = [[tp.topic, tp.partition, a, b] for tp, (a, b) in marked.items()]
        document = {"pid": self._pid, "ranges": ranges_out}
        try:
            self._marker.write(document)
        except OSError as error:
            self._off(error)
            return
        self._marked = document

    def _off(self, error: OSError) -> None:
        """A state dir it cannot write must not stop the stage: no quarantine, said once."""
        logger.warning(
            "crash-loop quarantine off for this worker: cannot use %s (%s); set "
            "STREAMWORKS_STATE_DIR to a writable folder",
            self._marker.path.parent,
            error,
        )
        self.after = 0

    def culprit(self, tp: TopicPartition, offset: int) -> CrashLoop | None:
        """The error to dead-letter record ``offset`` of ``tp`` with, when it is the one
        that killed its workers (it was the only suspect left when the last one died)."""
        suspect = self._suspects.get(tp)
        if (
            suspect is None
            or not suspect.pinned
            or suspect.first != offset
            or suspect.deaths < self.after
        ):
            return None
        return CrashLoop(
            f"its worker died {suspect.deaths} times with it in the batch (last: {suspect.reason})"
        )

    def handled(self, piece: Batches, *, settled: bool) -> None:
        """``piece`` was handled, and ``settled`` (its outputs acknowledged) if so: the
        records whose outputs are acknowledged are no suspects any more."""
        done = [self._pending]  # handling a piece settles the one before it
        if self._pipelined and not settled:
            self._pending = piece
        else:
            done.append(piece)
            self._pending = None
        for pieces in done:
            if pieces is not None and self._suspects:
                self._passed(pieces)

    def _passed(self, piece: Batches) -> None:
        for tp, records in piece.items():
            suspect = self._suspects.get(tp)
            if suspect is None or records[-1].offset < suspect.first:
                continue
            if records[-1].offset >= suspect.last:
                del self._suspects[tp]
                self._ledger.clear(tp)
            else:
                suspect.first = records[-1].offset + 1
                self._ledger.update(suspect)

    def failed(self, error: BaseException) -> None:
        """The worker is ending on ``error``: keep the marker (with the reason) only when
        the error may be the record's."""
        if isinstance(error, StageStopped):  # for the supervisor: restarting cannot help
            stopped = self._marker.path.with_name(f"stopped-{os.getpid()}.json")
            write_json(stopped, {"why": str(error)})
        if self._marked is None:
            return
        if is_the_records(error):
            self._marker.write({**self._marked, "reason": _describe(error)})
        else:
            self.close()

    def close(self) -> None:
        """The worker stopped cleanly: nothing of it is suspect."""
        self._marker.remove()
        self._marked = None

    def _tracking(self, suspect: Suspect) -> bool:
        return suspect.deaths >= self.after


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
