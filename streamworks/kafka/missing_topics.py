"""aiokafka and a topic that is gone: its repeated log lines quietened, its metadata refreshed.

While a topic a client uses is missing, aiokafka logs the same error on every metadata
refresh and every produce retry (a wiped cluster made running workers log ~365 KB/s).
:func:`quiet_missing_topics` lets one such line per topic and kind through every
``every_s`` seconds; the worker's own line (:mod:`streamworks.runtime.topic_watch`) says
what is missing and how to fix it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamworks.kafka.rdkafka import RdConsumer

__all__ = ["MissingTopicLines", "quiet_missing_topics", "refresh_metadata"]

LOGGERS = (
    "aiokafka.cluster",
    "aiokafka",
    "aiokafka.producer.sender",
    "aiokafka.producer.producer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
)
"""The aiokafka loggers that repeat a missing topic's errors."""

_TEMPLATES = frozenset(
    {
        "Topic %s not found in cluster metadata",
        "Topic %s is not available during auto-create initialization",
        "Got error produce response on topic-partition %s, retrying. Error: %s",
        "OffsetFetchRequest -- unknown topic %s",
    }
)
"""aiokafka's messages (its format strings) that a missing topic repeats."""
_UNKNOWN = ("UnknownTopicOrPartition", "unknown topic or partition", "LeaderNotAvailable")


class MissingTopicLines(logging.Filter):
    """Lets one aiokafka record about a missing topic through per (message, topic) per
    ``every_s`` seconds; every other record passes."""

    def __init__(self, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._every_s = every_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()  # logging may come from any thread

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat within ``every_s`` of the same line about the same topic."""
        topic = _topic_of(record)
        if topic is None:
            return True
        key = (str(record.msg), topic)
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._every_s:
                return False
            self._last[key] = now
        return True


def _topic_of(record: logging.LogRecord) -> str | None:
    """The topic an aiokafka record about a missing topic names ("" when it names none);
    None for other records."""
    args = record.args if isinstance(record.args, tuple) else ()
    words = (str(record.msg), *(str(arg) for arg in args))
    if record.msg not in _TEMPLATES and not any(m in w for w in words for m in _UNKNOWN):
        return None
    for arg in args:
        if isinstance(arg, TopicPartition):
            return str(arg.topic)
        if isinstance(arg, str):
            return arg
    return ""


_installed: MissingTopicLines | None = None


def quiet_missing_topics(every_s: float = 10.0) -> MissingTopicLines:
    """Install (once per process) the filter on aiokafka's loggers; returns it."""
    global _installed  # noqa: PLW0603 - one filter per process, however many workers
    if _installed is None:
        _installed = MissingTopicLines(every_s)
        for name in LOGGERS:
            logging.getLogger(name).addFilter(_installed)
    return _installed


def refresh_metadata(consumer: AIOKafkaConsumer | RdConsumer) -> None:
    """Have ``consumer`` refresh its cluster metadata now rather than in up to five minutes.

    A group's leader notices a topic that came back only from fresh metadata; then the
    group rebalances and its partitions are assigned again.
    """
    if isinstance(consumer, AIOKafkaConsumer):
        consumer._client.force_metadata_update()  # aiokafka has no public call for it
    else:
        consumer.force_metadata_update()
