"""Declaring a stage: its input, its outputs, its function and how it treats failures."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from streamworks.core.errors import ConfigurationError
from streamworks.pipeline.aggregation import Aggregation
from streamworks.pipeline.tables import GlobalTable
from streamworks.schemas.records import AvroRecord

__all__ = ["OnError", "RetryPolicy", "Stage", "StageFunction", "To"]

In = TypeVar("In", bound=AvroRecord)

StageFunction = Callable[[Any], Awaitable[Any]]

OnError = Literal["dead-letter", "stop"]
"""What a failure of a stage's function does: dead-letter the record and go on, or stop."""


@dataclass(frozen=True, slots=True)
class To:
    """Send ``record`` to ``topic`` explicitly (for stages with several outputs of one type)."""

    topic: str
    """One of the stage's declared output topics."""
    record: AvroRecord
    """The record to write there."""
    key: str | bytes | None = None
    """Key to write it with; by default the stage's key function or the input's key."""


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of retriable errors, with exponential backoff, before dead-lettering."""

    attempts: int = 5
    """Total attempts, the first included."""
    initial_backoff_s: float = 0.1
    """Wait before the second attempt."""
    max_backoff_s: float = 5.0
    """Upper bound of any wait."""
    multiplier: float = 2.0
    """Growth of the wait per attempt."""

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (from 1)."""
        return float(
            min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (attempt - 1))
        )


@dataclass(frozen=True)
class Stage(Generic[In]):
    """One step of a pipeline: ``function`` applied to each record of ``inputs``.

    The function is ``async`` and takes one record (or, with ``batch=True``, a list of
    records, returning one result per record). It returns None to filter the record out,
    a record, or an iterable of records and :class:`To`. A record goes to the declared
    output whose record type it is; :class:`To` names the output when types repeat.
    """

    name: str
    """Stage name; also its consumer group suffix and its dead-letter topic's middle part."""
    inputs: tuple[str, ...]
    """Topics it reads, all carrying ``input_type`` records."""
    input_type: type[In]
    """The record type of its inputs (its reader schema)."""
    outputs: dict[str, type[AvroRecord]]
    """Topics it writes, with the record type of each (their writer schemas)."""
    function: StageFunction = field(repr=False)
    """The logic."""
    concurrency: int = 1
    """Records processed at once within one worker; same-key records stay in order."""
    key: Callable[[Any], str | bytes] | None = field(default=None, repr=False)
    """Key of the output records (and of in-worker ordering); default: the input's key."""
    repartition_by: Callable[[Any], str | bytes] | None = field(default=None, repr=False)
    """Key the *inputs* by this first: the pipeline adds a ``<name>.repartition`` stage that
    rewrites the inputs to an internal topic keyed by it, so every record with one key is
    processed by one worker, in order."""
    batch: bool = False
    """True when ``function`` takes a list of records and returns a list of results."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """How retriable errors are retried before the record is dead-lettered."""
    tables: tuple[GlobalTable[Any], ...] = ()
    """Global tables the function joins with; each worker loads them before it starts."""
    on_error: OnError = "dead-letter"
    """A record the function fails on (after its retries) is dead-lettered and the stage
    goes on; with ``"stop"`` the stage stops instead, leaving the record uncommitted."""
    stop_after: int | None = 100
    """The circuit breaker: stop the stage when this many records *in a row* fail with the
    same error class (a bug, not bad data); None never stops. See
    :mod:`streamworks.runtime.breaker`."""
    aggregation: Aggregation | None = None
    """Set for an aggregation stage: it folds its inputs into state instead of calling
    ``function`` (see :meth:`streamworks.pipeline.graph.Pipeline.aggregate`)."""

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ConfigurationError(f"stage {self.name} reads no topic")
        if self.concurrency < 1:
            raise ConfigurationError(f"stage {self.name}: concurrency must be at least 1")
        if self.stop_after is not None and self.stop_after < 1:
            raise ConfigurationError(f"stage {self.name}: stop_after must be at least 1 or None")
        if self.on_error not in ("dead-letter", "stop"):
            raise ConfigurationError(
                f"stage {self.name}: on_error is 'dead-letter' or 'stop', not {self.on_error!r}"
            )
        if self.retry.attempts < 1:
            raise ConfigurationError(f"stage {self.name}: retry attempts must be at least 1")
        object.__setattr__(self, "function", _awaitable(self.name, self.function))

    def output_for(self, record: AvroRecord) -> str:
        """The output topic of ``record`` by its type; ambiguous types need :class:`To`."""
        matches = [topic for topic, kind in self.outputs.items() if kind is type(record)]
        if len(matches) != 1:
            raise ConfigurationError(
                f"stage {self.name} returned a {type(record).__name__}, which is not the type "
                f"of exactly one of its outputs {sorted(self.outputs)}; return To(topic, record)"
            )
        return matches[0]


def _awaitable(stage: str, function: Callable[..., Any]) -> StageFunction:
    """``function`` as the runtime calls it: one record (or list) in, awaited.

    A plain ``def`` runs inline; a generator, a function that cannot take exactly one
    argument, or something not callable is refused here, with the stage named, rather than
    dead-lettering every record at run time.
    """
    name = getattr(function, "__name__", repr(function))
    if not callable(function):
        raise ConfigurationError(f"stage {stage}: {name} is not a function")
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        raise ConfigurationError(
            f"stage {stage}: {name} is a generator; return the record, a list of them, or None"
        )
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        raise ConfigurationError(
            f"stage {stage}: {name} must take exactly one argument (the record, or the list "
            "of records of a batch stage)"
        ) from None
    except ValueError:  # no signature to read (a builtin): trust it
        pass
    if inspect.iscoroutinefunction(function):
        return function

    @functools.wraps(function)
    async def inline(record: Any) -> Any:
        result = function(record)
        return await result if inspect.isawaitable(result) else result

    return inline
