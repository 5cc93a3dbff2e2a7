"""Whether a local cluster is ready: its brokers answer, and it coordinates consumer groups.

A broker answers metadata well before it can serve a consumer group: the group coordinator
lives in a partition of ``__consumer_offsets``, which the broker creates on the first
FindCoordinator and then loads. Until then every group call fails with
``GroupCoordinatorNotAvailableError`` or ``CoordinatorLoadInProgressError``.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Sequence

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streamworks.core.settings import Settings
from streamworks.kafka.clients import security_options
from streamworks.kafka.metadata import cluster_metadata
from streamworks.ops.kafka import _process
from streamworks.ops.kafka._files import NodeLayout
from streamworks.ops.kafka.errors import BrokerDiedError, BrokerNotReadyError

__all__ = ["PROBE_GROUP", "brokers_in_metadata", "group_coordination_problem", "wait_ready"]

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


def wait_ready(
    procs: Sequence[tuple[NodeLayout, subprocess.Popen[bytes]]],
    serving: Sequence[NodeLayout],
    deadline: float,
    login: Settings | None,
    directory: str,
) -> None:
    """Wait until every node of ``serving`` accepts connections, a metadata answer lists
    them all and the cluster coordinates consumer groups.

    ``procs`` are the JVMs just started (asked first); one that exits fails the wait with
    its log's last lines. ``login`` is a secure cluster's admin.
    """
    expected = len(serving)
    started = [node for node, _ in procs]
    ordered = started + [node for node in serving if node not in started]
    bootstrap = ",".join(f"127.0.0.1:{node.broker_port}" for node in ordered)
    seen = 0
    groups: str | None = "not asked yet"
    while time.monotonic() < deadline:
        for node, proc in procs:
            if proc.poll() is not None:
                raise BrokerDiedError(node.node_id, proc.returncode, _log_tail(node))
        if all(_process.port_accepts(n.broker_port) for n in serving):
            seen = asyncio.run(brokers_in_metadata(bootstrap, login))
            if seen >= expected:
                # a consumer group (a worker, `streamworks status`) works from the start
                groups = asyncio.run(group_coordination_problem(bootstrap, login))
                if groups is None:
                    return
        time.sleep(0.2)
    log = ordered[0].log_path
    if seen >= expected:
        raise BrokerNotReadyError(
            f"the local Kafka cluster in {directory} answers but could not coordinate "
            f"consumer groups in time ({groups}); see {log}"
        )
    raise BrokerNotReadyError(
        f"the local Kafka cluster in {directory} did not report {expected} broker(s) "
        f"in time (last saw {seen}); see {log}"
    )


async def brokers_in_metadata(bootstrap_servers: str, settings: Settings | None = None) -> int:
    """How many brokers a metadata answer lists, or 0 when no broker answers.

    ``settings`` give the TLS and login of a secure cluster. The probe's connection is
    closed before it returns (:func:`~streamworks.kafka.metadata.cluster_metadata`).
    """
    metadata = await cluster_metadata(bootstrap_servers, settings)
    return 0 if metadata is None else len(metadata.brokers)


def _log_tail(node: NodeLayout) -> str:
    server_log = _process.tail(node.log_path)
    console = _process.tail(node.console_path)
    if "ERROR" in server_log or "does not exist" in console or "is empty" in console:
        return server_log
    return f"{server_log}\n--- console ---\n{console}"
