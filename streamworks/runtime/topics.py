"""Making sure a pipeline's topics exist with the declared partitions; their formats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    NoError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    for_code,
)

from streamworks.core.errors import AuthorizationError, ConfigurationError
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.security import principal_of
from streamworks.pipeline.graph import Pipeline, PipelineError
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import Format

__all__ = [
    "RECORD_FRAMING",
    "ensure_topic",
    "ensure_topics",
    "formats_of",
    "record_limits",
    "register_contracts",
]

logger = logging.getLogger(__name__)
_MAX_REPLICATION = 3
_METADATA_LAG_S = 10.0
"""How long a refused create waits for the topic to show up in the metadata it reads."""
RECORD_FRAMING = 588
"""Bytes a record batch of one record adds to its key, value and headers, rounded up: the
broker's default ``message.max.bytes`` (1,048,588) less this is 1,048,000."""


async def record_limits(settings: Settings, topics: Collection[str]) -> dict[str, int]:
    """Per topic, the most bytes of key, value and headers one record may have: the topic's
    ``max.message.bytes`` less the framing. Topics whose configs cannot be read (missing,
    or not allowed) are left out; callers assume the broker's default for them."""
    if not topics:
        return {}
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in sorted(topics)]
        )
    except Exception as error:  # noqa: BLE001 - a limit we cannot read falls back to the default
        logger.info("cannot read the record size limits of %s: %s", sorted(topics), error)
        return {}
    finally:
        await admin.close()
    limits: dict[str, int] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                continue
            for entry in resource["config_entries"]:
                if entry["config_names"] == "max.message.bytes" and entry["config_value"]:
                    limits[resource["resource_name"]] = int(entry["config_value"]) - RECORD_FRAMING
    return limits


async def ensure_topics(
    pipeline: Pipeline,
    settings: Settings,
    *,
    create: bool = True,
    only: Collection[str] | None = None,
) -> list[str]:
    """Create the pipeline's missing topics; fail when one exists with other partitions.

    ``only`` limits both to those topics: a stage's worker checks the topics it uses, which
    on a secured cluster are the only ones its principal can see. Returns the names created.
    Replication defaults to the broker count, up to 3.
    """
    declared = {
        name: spec for name, spec in pipeline.topics().items() if only is None or name in only
    }
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        present = set(await admin.list_topics()) & set(declared)
        existing = {
            t["topic"]: len(t["partitions"])
            for t in (await admin.describe_topics(sorted(present)) if present else [])
        }
        problems = [
            f"topic {name} has {existing[name]} partitions, the pipeline declares {spec.partitions}"
            for name, spec in declared.items()
            if name in existing and existing[name] != spec.partitions
        ]
        missing = [spec for name, spec in declared.items() if name not in existing]
        if missing and not create:
            problems.extend(f"topic {spec.name} does not exist" for spec in missing)
        if problems:
            raise PipelineError(pipeline.name, problems)
        new = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication or min(brokers, _MAX_REPLICATION),
                topic_configs=spec.config,
            )
            for spec in missing
        ]
        if new:
            _created(await admin.create_topics(new), settings)
        return [t.name for t in new]
    finally:
        await admin.close()


async def ensure_topic(
    settings: Settings,
    name: str,
    *,
    partitions: int = 1,
    replication: int | None = None,
    config: dict[str, str] | None = None,
) -> None:
    """Create one topic unless it exists (another process may create it at the same time)."""
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        if name in await admin.list_topics():
            return
        if replication is None:
            brokers = len((await admin.describe_cluster())["brokers"])
            replication = min(brokers, _MAX_REPLICATION)
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication, topic_configs=config or {})]
        )
        try:
            _created(response, settings)
        except AuthorizationError:
            # A principal without CREATE is refused even for a topic that exists: one that
            # an admin created a moment ago may not be in this broker's metadata yet.
            if not await _appears(admin, name, within_s=_METADATA_LAG_S):
                raise
    finally:
        await admin.close()


async def _appears(admin: Any, name: str, *, within_s: float) -> bool:
    """Whether ``name`` shows in the cluster's topic list within ``within_s`` seconds."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        if name in await admin.list_topics():
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.25)


def formats_of(pipeline: Pipeline) -> dict[str, Format]:
    """The format of each of the pipeline's topics (``"avro"`` unless declared otherwise),
    for the processors and tables, which each build their codecs once from it."""
    return {name: spec.format for name, spec in pipeline.topics().items()}


def register_contracts(pipeline: Pipeline, registry: RegistryClient) -> dict[str, int]:
    """Register each typed Avro topic's contract under ``<topic>-value``; subject -> schema
    id. JSON topics have no subject.

    Stages register their outputs when they first write; registering up front lets the
    connectors at the pipeline's edges (an HTTP ingest, a PostgreSQL sink) check records
    and create tables before any stage has run.
    """
    return {
        subject: registry.register(subject, found.schema_str)
        for subject, found in pipeline.subjects().items()
    }


def _created(response: Any, settings: Settings) -> None:
    """Raise for every topic the cluster did not create (aiokafka returns the errors).

    A topic another process created first counts as created: any worker may start first.
    """
    for topic, code, *rest in response.topic_errors:
        error = for_code(code)
        if error is NoError or error is TopicAlreadyExistsError:
            continue
        if error in (TopicAuthorizationFailedError, ClusterAuthorizationFailedError):
            raise AuthorizationError(
                principal_of(settings),
                "CREATE",
                f"topic {topic}",
                "create the topics as an admin first (streamworks acl apply, or topics apply)",
            )
        detail = rest[0] if rest and rest[0] else error.__name__
        raise ConfigurationError(f"cannot create topic {topic}: {detail}")
