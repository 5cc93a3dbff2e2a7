"""What reaches the command line from the layers below, made one line.

A broker that is down makes aiokafka log each address it could not reach and then raise
``KafkaConnectionError`` from inside whichever client was starting; the command then ends
with a long traceback. :func:`translate` turns that error into the Kafka layer's typed one,
and :func:`quiet_bootstrap_failures` drops the per-address log lines that the one line
replaces (and holds the lines a long-running command repeats while a broker is down).
"""

from __future__ import annotations

import logging
import time

from pydantic import ValidationError

from streamworks.core.settings import Settings
from streamworks.kafka.errors import KafkaUnavailableError, unreachable

__all__ = ["quiet_bootstrap_failures", "translate"]

# aiokafka's format string for one bootstrap address it could not connect to; its failure to
# reach a known node later, while a worker runs, is another message and is kept
_BOOTSTRAP_FAILED = 'Unable connect to "%s:%s": %s'


def _not_a_bootstrap_failure(record: logging.LogRecord) -> bool:
    return not (record.name.startswith("aiokafka") and record.msg == _BOOTSTRAP_FAILED)


_NODE_FAILURES = frozenset(
    {
        "Unable connect to node with id %s: %s",
        "Unable to request metadata from node with id %s: %r",
        "Unable to update metadata from %s",
    }
)
"""aiokafka's messages for a known node it cannot reach: repeated every retry (about 10 a
second) for as long as the broker is down."""
NODE_FAILURE_EVERY_S = 30.0


class _NodeFailureRepeats(logging.Filter):
    """Lets one of aiokafka's "cannot reach node" lines per message through every
    :data:`NODE_FAILURE_EVERY_S` seconds (a long-running command with the broker down
    logged about 1,100 lines a minute)."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka") or record.msg not in _NODE_FAILURES:
            return True
        now = time.monotonic()
        key = str(record.msg)
        if now - self._last.get(key, -NODE_FAILURE_EVERY_S) < NODE_FAILURE_EVERY_S:
            return False
        self._last[key] = now
        return True


def quiet_bootstrap_failures() -> None:
    """Drop aiokafka's per-address bootstrap failures from the root logger's handlers (the
    command reports the outcome itself, in one line), and hold its repeated "cannot reach
    node" lines to one per message every 30 s."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_not_a_bootstrap_failure)
        handler.addFilter(_NodeFailureRepeats())  # one per handler: each sees every record


def translate(error: BaseException) -> KafkaUnavailableError | None:
    """The one-line error for an exception no command turned into a streamworks error, or
    None when there is none (the exception then stays what it is)."""
    try:
        bootstrap = Settings().bootstrap_servers
    except ValidationError:  # the address aiokafka names in its error is used instead
        bootstrap = "STREAMWORKS_BOOTSTRAP_SERVERS"
    return unreachable(error, bootstrap)
