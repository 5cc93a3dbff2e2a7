"""One metadata answer from the cluster, on a connection of our own that is closed for sure.

``AIOKafkaClient`` and aiokafka's admin client close their connections without waiting;
closing TLS takes a round trip, so a caller that ends soon after (a test, an ``asyncio.run``)
could leave a socket open, a ``ResourceWarning`` in whatever ran when the garbage collector
found it. :func:`cluster_metadata` opens one connection to the first bootstrap address that
answers, asks, and returns only once that connection is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from streamworks.core.settings import Settings
from streamworks.kafka.clients import security_options

__all__ = ["cluster_metadata", "topic_names"]


async def cluster_metadata(
    bootstrap_servers: str,
    settings: Settings | None = None,
    *,
    topics: bool | Sequence[str] = False,
    timeout_ms: int = 3000,
) -> Any | None:
    """The metadata answer of the first address that answers, or None when none does: the
    brokers, and with ``topics`` True every topic the login may describe, with a list of
    names those of them (never creating one; one missing is listed with an error).
    ``settings`` give the TLS and login."""
    options = security_options(settings) if settings is not None else {}
    for address in bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            conn = await create_conn(host, int(port), request_timeout_ms=timeout_ms, **options)
        except (OSError, KafkaError, TimeoutError):
            continue  # not answering (yet); create_conn closed what it opened
        try:
            # None asks for every topic, an empty list for none (metadata v1 and later)
            named = None if topics is True else list(topics or [])
            request = MetadataRequest(named, allow_auto_topic_creation=False)
            return await conn.send(request)
        except (KafkaError, TimeoutError):
            continue
        finally:
            await conn.close()  # resolves once the socket is closed
    return None


def topic_names(metadata: Any) -> set[str]:
    """The topics a metadata answer lists without an error."""
    return {str(topic[1]) for topic in metadata.topics if topic[0] == 0}
