"""Whether a fresh cluster coordinates consumer groups yet.

A broker answers metadata well before it can serve a consumer group: the group coordinator
lives in a partition of ``__consumer_offsets``, which the broker creates on the first
FindCoordinator and then loads. Until then every group call fails with
``GroupCoordinatorNotAvailableError`` or ``CoordinatorLoadInProgressError``.
"""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streamworks.core.settings import Settings
from streamworks.kafka.clients import security_options

__all__ = ["PROBE_GROUP", "group_coordination_problem"]

PROBE_GROUP = "streamworks-readiness-probe"
"""The group asked about; it never gets a member or an offset, so it is never created."""

_PROBE_PARTITION = TopicPartition("__consumer_offsets", 0)


async def group_coordination_problem(
    bootstrap_servers: str, settings: Settings | None = None
) -> str | None:
    """None once the cluster answers an offset fetch for a group, else why not yet.

    The question makes the broker create ``__consumer_offsets`` (FindCoordinator), and the
    answer comes only once the coordinator has loaded its partition (OffsetFetch).
    ``settings`` give the TLS and login of a secure cluster (not the environment's: the
    cluster is this machine's own).
    """
    options = security_options(settings) if settings is not None else {}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=3000, **options
    )
    try:
        await admin.start()
        await admin.list_consumer_group_offsets(PROBE_GROUP, partitions=[_PROBE_PARTITION])
    except KafkaError as error:
        return type(error).__name__
    finally:
        await admin.close()
    return None
