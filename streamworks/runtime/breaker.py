"""The circuit breaker: a bug in a stage's code stops the stage, bad data does not.

A record whose function fails goes to the dead-letter topic, so one bad record never stops
a pipeline. But when *every* record fails the same way, the fault is the code (or something
it depends on), not the data: dead-lettering all traffic would hide it. So a stage stops
when ``stop_after`` records in a row fail with the same error class, or at the first
failure under ``on_error="stop"``, or at once when the function returns something that is
not a record (a bug whatever the data). Stopping raises :class:`StageStopped` out of the
batch: nothing of that batch is written or committed, so after the fix every record is
processed again.
"""

from __future__ import annotations

from typing import Any

from streamworks.core.errors import ConfigurationError, StageError
from streamworks.core.messages import InMessage
from streamworks.pipeline.stage import Stage

__all__ = ["Breaker", "ResultTypeError", "StageStopped"]


class StageStopped(StageError):
    """A stage stopped itself: its function fails in a way that no record is to blame for."""

    def __init__(self, stage: str, reason: str, error: BaseException, where: InMessage) -> None:
        super().__init__(
            f"stage {stage} stopped: {reason}: {_describe(error)} (last at {where.topic} "
            f"partition {where.partition} offset {where.offset}); the batch is not committed, "
            "so its records are processed again once the stage is fixed and restarted"
        )
        self.stage = stage
        self.error = error


class ResultTypeError(StageError):
    """A stage function returned something other than a record, records, ``To`` or None."""


class Breaker:
    """Counts a stage's failures in a row and trips when they show a bug."""

    def __init__(self, stage: Stage[Any]) -> None:
        self._stage = stage.name
        self._limit = 1 if stage.on_error == "stop" else stage.stop_after
        self._kind: type[BaseException] | None = None
        self._run = 0

    def succeeded(self) -> None:
        """A record went through: the run of failures is over."""
        self._run = 0

    def failed(self, error: BaseException, message: InMessage) -> None:
        """Count a failure of the stage's code on ``message``; raise when the stage must stop."""
        if isinstance(error, ResultTypeError | ConfigurationError):
            raise StageStopped(self._stage, "its function broke its contract", error, message)
        if type(error) is self._kind:
            self._run += 1
        else:
            self._kind, self._run = type(error), 1
        if self._limit is not None and self._run >= self._limit:
            reason = (
                'a record failed and on_error="stop"'
                if self._limit == 1
                else f"{self._run} records in a row failed with the same error"
            )
            raise StageStopped(self._stage, reason, error, message)


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    name = type(error).__name__
    return f"{name}: {text}" if text else name
