"""Deciding, letter by letter, what a replay sends and how far its offsets may move."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamworks.ops.dlq.letters import DeadLetter

__all__ = ["Batch", "ReplayReport", "Sorter", "matches_error"]


@dataclass
class ReplayReport:
    """What a replay did (or, in a dry run, would do)."""

    replayed: int = 0
    """Dead letters produced to their origin topic (would be, in a dry run)."""
    already_replayed: int = 0
    """Skipped: an earlier replay did them."""
    filtered: int = 0
    """Skipped: their error class is not the one asked for."""
    no_origin: int = 0
    """Skipped: no origin topic header, or the origin topic no longer exists."""
    missing_origins: dict[str, int] = field(default_factory=dict)
    """Origin topics that no longer exist (or ``(no origin header)``), with their counts."""


def matches_error(error_class: str, wanted: str | None) -> bool:
    """True if ``wanted`` is None, the qualified class, or its last dotted part."""
    return wanted is None or wanted in (error_class, error_class.rpartition(".")[2])


@dataclass
class Batch:
    """One transaction's worth: letters to send, and each partition's next group offset."""

    sends: list[DeadLetter] = field(default_factory=list)
    """Letters to produce to their origin topics."""
    offsets: dict[int, int] = field(default_factory=dict)
    """Dead-letter partition -> offset to commit (only past a run of replayed letters)."""
    last: bool = False
    """The limit was reached: no batch follows this one."""


@dataclass
class Sorter:
    """Sorts letters into replay, or skip-and-why, for one replay run."""

    done: set[tuple[int, int]]
    """``(partition, offset)`` of letters an earlier replay did (the markers)."""
    existing: set[str]
    """Topics that exist now."""
    error: str | None = None
    """Only this error class, if given."""
    limit: int | None = None
    """Replay at most this many."""
    report: ReplayReport = field(default_factory=ReplayReport)
    """Counts so far."""
    held: set[int] = field(default_factory=set)
    """Partitions whose group offset a skipped letter holds back, for later replays."""

    def sort(self, letters: list[DeadLetter]) -> Batch:
        """The batch for ``letters`` (in partition order); counts go to :attr:`report`."""
        batch = Batch()
        report = self.report
        for letter in letters:
            if (letter.partition, letter.offset) in self.done:
                report.already_replayed += 1
            elif not matches_error(letter.error_class, self.error):
                report.filtered += 1
                self.held.add(letter.partition)
            elif letter.origin_topic is None or letter.origin_topic not in self.existing:
                report.no_origin += 1
                origin = letter.origin_topic or "(no origin header)"
                report.missing_origins[origin] = report.missing_origins.get(origin, 0) + 1
                self.held.add(letter.partition)
            elif self.limit is not None and report.replayed >= self.limit:
                batch.last = True
                return batch
            else:
                report.replayed += 1
                batch.sends.append(letter)
            if letter.partition not in self.held:
                batch.offsets[letter.partition] = letter.offset + 1
        return batch
