"""Headers that explain a dead letter (outputs' lineage: :mod:`streamworks.core.lineage`)."""

from __future__ import annotations

import logging
import time
import traceback

from streamworks.core.messages import Headers, InMessage, OutRecord
from streamworks.pipeline.graph import dead_letter_topic

__all__ = [
    "DLQ_PREFIX",
    "DLQ_RECORD_LIMIT",
    "LINEAGE_PREFIX",
    "LOG_BURST",
    "LogBudget",
    "dead_letter",
    "dead_letter_headers",
    "dead_letter_topic",
    "header",
]

logger = logging.getLogger(__name__)

DLQ_PREFIX = "streamworks.dlq."
LINEAGE_PREFIX = "streamworks.origin."
"""Text headers of where a record came from, on what sources and aggregations write (a
stage's outputs carry the compact :data:`~streamworks.core.lineage.LINEAGE_HEADER`)."""
_TRACEBACK_LIMIT = 4_000
_MESSAGE_LIMIT = 1_000
DLQ_RECORD_LIMIT = 1_048_000
"""Most bytes of key, value and headers a dead letter carries: with Kafka's framing it fits
the broker's default ``message.max.bytes`` (1,048,588), which the original also had to."""


LOG_BURST = 10
"""Dead letters of one stage logged one by one per :data:`_LOG_WINDOW_S`; the rest are
counted in one line (every dead letter is in the topic and the stage's counts)."""
_LOG_WINDOW_S = 10.0


class LogBudget:
    """How many dead-letter lines a stage's processor may still log in this window."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int, int]] = {}

    def take(self, stage: str) -> bool:
        """True when this dead letter of ``stage`` is logged on its own line."""
        now = time.monotonic()
        began, logged, held = self._windows.get(stage, (now, 0, 0))
        if now - began >= _LOG_WINDOW_S:
            if held:
                logger.warning(
                    "stage %s: %d more dead letters in %.0f s, not logged one by one "
                    "(streamworks dlq inspect groups them)",
                    stage,
                    held,
                    now - began,
                )
            began, logged, held = now, 0, 0
        if logged < LOG_BURST:
            self._windows[stage] = (began, logged + 1, held)
            return True
        self._windows[stage] = (began, logged, held + 1)
        return False


def dead_letter_headers(
    stage: str,
    origin: InMessage,
    error: BaseException,
    attempts: int,
    *,
    error_class: str | None = None,
) -> Headers:
    """Why and where a record failed; the record's own headers are kept after these.

    ``error.class`` is the error's qualified class name unless ``error_class`` says
    otherwise (``CrashLoop``: no exception was raised, its workers died).
    """
    trace = "".join(traceback.format_exception(error))[-_TRACEBACK_LIMIT:]
    error_class = error_class or f"{type(error).__module__}.{type(error).__qualname__}"
    return (
        (DLQ_PREFIX + "stage", stage.encode()),
        (DLQ_PREFIX + "error.class", error_class.encode()),
        (DLQ_PREFIX + "error.message", str(error)[:_MESSAGE_LIMIT].encode()),
        (DLQ_PREFIX + "error.traceback", trace.encode()),
        (DLQ_PREFIX + "attempts", str(attempts).encode()),
        (DLQ_PREFIX + "origin.topic", origin.topic.encode()),
        (DLQ_PREFIX + "origin.partition", str(origin.partition).encode()),
        (DLQ_PREFIX + "origin.offset", str(origin.offset).encode()),
        (DLQ_PREFIX + "timestamp", str(int(time.time() * 1000)).encode()),
        *origin.headers,
    )


def dead_letter(
    stage: str,
    topic: str,
    message: InMessage,
    error: BaseException,
    attempts: int,
    *,
    error_class: str | None = None,
    budget: LogBudget | None = None,
) -> OutRecord:
    """``message`` as a dead letter for ``topic``, explained by its headers, and logged:
    every one, or with a ``budget`` the first :data:`LOG_BURST` per 10 s and then how many
    more there were."""
    if budget is None or budget.take(stage):
        logger.warning(
            "stage %s: %s at %s[%d]@%d, a dead letter for %s once its batch is written: %s",
            stage,
            type(error).__name__,
            message.topic,
            message.partition,
            message.offset,
            topic,
            error,
        )
    headers = dead_letter_headers(stage, message, error, attempts, error_class=error_class)
    value = message.value
    room = DLQ_RECORD_LIMIT - len(message.key or b"") - sum(len(k) + len(v) for k, v in headers)
    if value is not None and len(value) > room:
        # the explanation pushed a record that just fit over the limit: keep the start of
        # the value and say so, rather than fail to write the dead letter at all
        mark = (DLQ_PREFIX + "value.truncated.from", str(len(value)).encode())
        headers = (*headers, mark)
        value = value[: max(0, room - len(mark[0]) - len(mark[1]))]
    return OutRecord(topic, message.key, value, headers)


def header(headers: Headers, name: str) -> str | None:
    """The first header called ``name``, decoded, or None."""
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace")
    return None
