"""A group's committed offsets as they stand once its transactions are settled (KIP-447).

An exactly-once consumer that takes over a partition must start right after the offsets its
previous owner committed in a transaction. A plain OffsetFetch (aiokafka's ``committed()``,
v1-v3) can answer before a just-finished transaction's offsets are visible, and the new
owner would process those records again. OffsetFetch v7 with ``require_stable`` makes the
group coordinator answer UNSTABLE_OFFSET_COMMIT until they are settled, then the final
offset. aiokafka does not send it, so this module does, over a connection of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, TypeAlias

from aiokafka import TopicPartition
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.admin import ApiVersionRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)

from streamworks.core.settings import Settings
from streamworks.kafka.clients import security_options
from streamworks.kafka.errors import (
    OffsetFetchError,
    OffsetsUnsettledError,
    StableOffsetsUnsupportedError,
)

__all__ = ["OffsetFetchRequest", "stable_committed"]

logger = logging.getLogger(__name__)

_OFFSET_FETCH = 9
_STABLE_VERSION = 7
_NONE = 0
_COORDINATOR_LOAD_IN_PROGRESS = 14
_COORDINATOR_NOT_AVAILABLE = 15
_NOT_COORDINATOR = 16
_UNSTABLE_OFFSET_COMMIT = 88
_FIND_AGAIN = {_COORDINATOR_LOAD_IN_PROGRESS, _COORDINATOR_NOT_AVAILABLE, _NOT_COORDINATOR}
_RETRIABLE = {*_FIND_AGAIN, _UNSTABLE_OFFSET_COMMIT}
_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 0.5


class OffsetFetchResponse_v7(Response):  # type: ignore[misc]  # aiokafka is untyped
    """OffsetFetch v7's answer (flexible: compact strings and arrays, tagged fields)."""

    API_KEY = _OFFSET_FETCH
    API_VERSION = _STABLE_VERSION
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("committed_offset", Int64),
                        ("committed_leader_epoch", Int32),
                        ("metadata", CompactString("utf-8")),
                        ("error_code", Int16),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("error_code", Int16),
        ("tags", TaggedFields),
    )


class OffsetFetchRequest_v7(RequestStruct):  # type: ignore[misc]  # aiokafka is untyped
    """OffsetFetch v7: one group's offsets, ``require_stable`` as KIP-447 added it."""

    FLEXIBLE_VERSION = True
    API_KEY = _OFFSET_FETCH
    API_VERSION = _STABLE_VERSION
    RESPONSE_TYPE = OffsetFetchResponse_v7
    SCHEMA = Schema(
        ("group_id", CompactString("utf-8")),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("partition_indexes", CompactArray(Int32)),
                ("tags", TaggedFields),
            ),
        ),
        ("require_stable", Boolean),
        ("tags", TaggedFields),
    )


OffsetFetchRequestStruct: TypeAlias = OffsetFetchRequest_v7


class OffsetFetchRequest(Request[OffsetFetchRequestStruct]):  # type: ignore[misc]  # untyped
    """The stable offsets of ``partitions`` in group ``group_id``."""

    API_KEY = _OFFSET_FETCH

    def __init__(self, group_id: str, partitions: set[TopicPartition]) -> None:
        by_topic: dict[str, list[int]] = {}
        for tp in sorted(partitions):
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        self._group_id = group_id
        self._topics: list[tuple[str, list[int], dict[int, bytes]]] = [
            (topic, indexes, {}) for topic, indexes in by_topic.items()
        ]

    def build(
        self, request_struct_class: type[OffsetFetchRequestStruct]
    ) -> OffsetFetchRequestStruct:
        return request_struct_class(self._group_id, self._topics, True, {})


def offsets_of(response: Any) -> tuple[int, dict[TopicPartition, int | None]]:
    """The first error of ``response`` (0 when none) and its offsets (None: never committed)."""
    if response.error_code != _NONE:
        return response.error_code, {}
    offsets: dict[TopicPartition, int | None] = {}
    for topic, partitions, _tags in response.topics:
        for partition, offset, _epoch, _metadata, error_code, _ptags in partitions:
            if error_code != _NONE:
                return error_code, {}
            offsets[TopicPartition(topic, partition)] = offset if offset >= 0 else None
    return _NONE, offsets


async def stable_committed(
    settings: Settings,
    group_id: str,
    partitions: set[TopicPartition],
    *,
    timeout_s: float = 30.0,
) -> dict[TopicPartition, int | None]:
    """The offsets ``group_id`` committed for ``partitions``, none of them pending.

    Waits (up to ``timeout_s``) while a transaction's offsets are not settled or the group's
    coordinator is moving or loading. Raises :class:`StableOffsetsUnsupportedError` when the
    broker predates OffsetFetch v7, :class:`OffsetsUnsettledError` at the deadline and
    :class:`OffsetFetchError` when the coordinator refuses (an error it would not retry).
    """
    if not partitions:
        return {}
    deadline = time.monotonic() + timeout_s
    backoff = _BACKOFF_S
    last = "no answer yet"
    waited = False
    while True:
        try:
            error, offsets = await _fetch_once(settings, group_id, partitions)
        except (KafkaError, OSError, TimeoutError) as failure:
            error, offsets, last = -1, {}, f"{type(failure).__name__}: {failure}"
        if error == _NONE:
            if waited:  # the hole a plain read falls into: worth seeing in the logs
                logger.info("offsets of group %s settled after waiting for %s", group_id, last)
            return {tp: offsets.get(tp) for tp in partitions}
        if error != -1:
            if error not in _RETRIABLE:
                raise OffsetFetchError(group_id, _name(error))
            last = _name(error)
        if time.monotonic() + backoff > deadline:
            raise OffsetsUnsettledError(group_id, last)
        waited = True
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, _MAX_BACKOFF_S)


async def _fetch_once(
    settings: Settings, group_id: str, partitions: set[TopicPartition]
) -> tuple[int, dict[TopicPartition, int | None]]:
    """One try: find the coordinator, ask it once (an error code is returned, not raised)."""
    request = OffsetFetchRequest(group_id, partitions)
    bootstrap = await _bootstrap(settings)
    try:
        await _require_stable_fetch(bootstrap)
        found = await bootstrap.send(FindCoordinatorRequest(group_id, 0))
        if found.error_code != _NONE:
            return int(found.error_code), {}
        if (found.host, found.port) == (bootstrap.host, bootstrap.port):
            return offsets_of(await bootstrap.send(request))
    finally:
        await bootstrap.close()  # resolves once the socket is closed
    coordinator = await _connect(settings, str(found.host), int(found.port))
    try:
        return offsets_of(await coordinator.send(request))
    finally:
        await coordinator.close()


async def _bootstrap(settings: Settings) -> Any:
    """A connection to the first bootstrap broker that answers."""
    failure: Exception = OSError(f"no broker in {settings.bootstrap_servers!r}")
    for address in settings.bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            return await _connect(settings, host, int(port))
        except (KafkaError, OSError, TimeoutError) as error:
            failure = error
    raise failure


async def _require_stable_fetch(conn: Any) -> None:
    versions = await conn.send(ApiVersionRequest())
    for api_key, low, high in versions.api_versions:
        if api_key == _OFFSET_FETCH and low <= _STABLE_VERSION <= high:
            return
    raise StableOffsetsUnsupportedError(f"{conn.host}:{conn.port}")


async def _connect(settings: Settings, host: str, port: int) -> Any:
    return await create_conn(
        host,
        port,
        client_id=f"{settings.client_id}-offsets",
        request_timeout_ms=10_000,
        **security_options(settings),
    )


def _name(error_code: int) -> str:
    if error_code == _UNSTABLE_OFFSET_COMMIT:  # newer than aiokafka's table of errors
        return "UNSTABLE_OFFSET_COMMIT"
    return f"{for_code(error_code).message} (error code {error_code})"
