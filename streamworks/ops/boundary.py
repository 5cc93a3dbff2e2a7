"""What reaches the command line from the layers below, made one line.

A broker that is down makes aiokafka log each address it could not reach and then raise
``KafkaConnectionError`` from inside whichever client was starting; the command then ends
with a long traceback. :func:`translate` turns that error into the Kafka layer's typed one,
and :func:`quiet_bootstrap_failures` drops the per-address log lines that the one line
replaces.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from streamworks.core.settings import Settings
from streamworks.kafka.errors import KafkaUnavailableError, unreachable

__all__ = ["quiet_bootstrap_failures", "translate"]

# aiokafka's format string for one bootstrap address it could not connect to; its failure to
# reach a known node later, while a worker runs, is another message and is kept
_BOOTSTRAP_FAILED = 'Unable connect to "%s:%s": %s'


def _not_a_bootstrap_failure(record: logging.LogRecord) -> bool:
    return not (record.name.startswith("aiokafka") and record.msg == _BOOTSTRAP_FAILED)


def quiet_bootstrap_failures() -> None:
    """Drop aiokafka's per-address bootstrap failures from the root logger's handlers: the
    command reports the outcome itself, in one line."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_not_a_bootstrap_failure)


def translate(error: BaseException) -> KafkaUnavailableError | None:
    """The one-line error for an exception no command turned into a streamworks error, or
    None when there is none (the exception then stays what it is)."""
    try:
        bootstrap = Settings().bootstrap_servers
    except ValidationError:  # the address aiokafka names in its error is used instead
        bootstrap = "STREAMWORKS_BOOTSTRAP_SERVERS"
    return unreachable(error, bootstrap)
