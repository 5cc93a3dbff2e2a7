"""Errors of the Kafka layer, and aiokafka's translated at the boundary.

aiokafka reports a broker that is down or unreachable as ``KafkaConnectionError("Unable to
bootstrap from [('127.0.0.1', 9092, <AddressFamily.AF_INET: 2>)]")`` deep inside whatever
client was starting; :func:`unreachable` turns that into one :class:`KafkaUnavailableError`
naming the address and what to do. A subsystem that has its own error type (callers catch
it) takes just the message, :func:`unreachable_message`.
"""

from __future__ import annotations

import re

from aiokafka.errors import KafkaConnectionError

from streamworks.core.errors import StreamworksError

__all__ = [
    "KafkaUnavailableError",
    "OffsetFetchError",
    "OffsetsUnsettledError",
    "StableOffsetsUnsupportedError",
    "unreachable",
    "unreachable_message",
]

# the (host, port, family) tuples aiokafka lists in "Unable to bootstrap from [...]"
_HOST_PORT = re.compile(r"\('([^']+)', (\d+),")


class KafkaUnavailableError(StreamworksError):
    """No broker answers at ``bootstrap``; it may come up, so trying later may succeed."""

    retriable = True

    def __init__(self, bootstrap: str) -> None:
        super().__init__(
            f"no Kafka broker answers at {bootstrap}; start one with: streamworks kafka up "
            "(or point --bootstrap or STREAMWORKS_BOOTSTRAP_SERVERS at your cluster)"
        )
        self.bootstrap = bootstrap


def unreachable(error: BaseException, bootstrap: str) -> KafkaUnavailableError | None:
    """The typed error when ``error`` (or an error it was raised from) means no broker could
    be reached, else None. The address is the one aiokafka tried, when it names it, else
    ``bootstrap``."""
    seen: set[int] = set()
    found: BaseException | None = error
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        if isinstance(found, KafkaConnectionError):
            tried = _HOST_PORT.findall(str(found))
            where = ",".join(f"{host}:{port}" for host, port in tried) if tried else bootstrap
            return KafkaUnavailableError(where)
        found = found.__cause__ or found.__context__
    return None


def unreachable_message(error: BaseException, bootstrap: str) -> str | None:
    """The message of :func:`unreachable`'s error, or None when ``error`` is another kind."""
    down = unreachable(error, bootstrap)
    return str(down) if down is not None else None


class StableOffsetsUnsupportedError(StreamworksError):
    """The broker at ``broker`` predates OffsetFetch v7 (KIP-447): no stable offset reads."""

    retriable = False

    def __init__(self, broker: str) -> None:
        super().__init__(
            f"the Kafka broker at {broker} does not support OffsetFetch v7 (Kafka 2.5+), so "
            "committed offsets cannot be read stable; upgrade the cluster for exactly-once "
            "hand-overs without this risk"
        )
        self.broker = broker


class OffsetsUnsettledError(StreamworksError):
    """Consumer group ``group_id``'s committed offsets could not be read settled in time."""

    retriable = True

    def __init__(self, group_id: str, last: str) -> None:
        super().__init__(
            f"the committed offsets of consumer group {group_id} could not be read settled "
            f"in time (last answer: {last}): a transaction or the group's coordinator did not "
            "settle; retry, and check the cluster's health if it persists"
        )
        self.group_id = group_id
        self.last = last


class OffsetFetchError(StreamworksError):
    """The coordinator of ``group_id`` refused to give its committed offsets (``error``)."""

    retriable = False

    def __init__(self, group_id: str, error: str) -> None:
        super().__init__(
            f"the committed offsets of consumer group {group_id} were refused: {error}; "
            "check the principal's Describe/Read ACLs on the group and its topics"
        )
        self.group_id = group_id
        self.error = error
