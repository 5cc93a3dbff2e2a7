"""The cluster side: reading the live topics and applying a plan, through aiokafka's admin client.

aiokafka's exceptions stop here; callers see :class:`TopicsError` and its subclasses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, for_code

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.errors import unreachable_message
from streamworks.ops.topics.errors import TopicsApplyError, TopicsError
from streamworks.ops.topics.model import Action, DesiredTopic, LiveState, LiveTopic, Plan

__all__ = ["apply_plan", "read_live"]

logger = logging.getLogger(__name__)
_DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a config set on the topic itself
_UNKNOWN_TOPIC = 3
_TOPIC_EXISTS = 36


@asynccontextmanager
async def _admin(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = clients.admin_client(settings)
    try:
        await admin.start()
        yield admin
    except (KafkaError, OSError) as error:
        raise TopicsError(
            unreachable_message(error, settings.bootstrap_servers)
            or f"Kafka at {settings.bootstrap_servers} failed: {error}; check that the brokers "
            "are up and --bootstrap or STREAMWORKS_BOOTSTRAP_SERVERS points at them"
        ) from error
    finally:
        await admin.close()


async def read_live(
    settings: Settings, desired: Mapping[str, DesiredTopic], prune_prefixes: tuple[str, ...] = ()
) -> LiveState:
    """The live topics the plan needs: the desired ones and those under the prune prefixes."""
    async with _admin(settings) as admin:
        brokers = len((await admin.describe_cluster())["brokers"])
        wanted = [
            name
            for name in await admin.list_topics()
            if name in desired or (prune_prefixes and name.startswith(prune_prefixes))
        ]
        if not wanted:
            return LiveState({}, brokers)
        described = {
            t["topic"]: t
            for t in await admin.describe_topics(sorted(wanted))
            if t["error_code"] != _UNKNOWN_TOPIC  # deleted since it was listed
        }
        configs = await _configs(admin, sorted(described))
    topics = {}
    for name, found in described.items():
        effective, overrides = configs.get(name, ({}, {}))
        keys = desired[name].config if name in desired else {}
        topics[name] = LiveTopic(
            name,
            partitions=len(found["partitions"]),
            replication=max((len(p["replicas"]) for p in found["partitions"]), default=0),
            config={k: v for k, v in effective.items() if k in keys},
            overrides=overrides,
        )
    return LiveState(topics, brokers)


async def _configs(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """Per topic: every effective config value, and those set on the topic itself."""
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    found = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            name = resource["resource_name"]
            if resource["error_code"] == _UNKNOWN_TOPIC:
                continue
            if resource["error_code"]:
                raise TopicsError(
                    f"cannot read the configs of topic {name}: {resource['error_message']}"
                )
            entries = resource["config_entries"]
            found[name] = (
                {e["config_names"]: e["config_value"] for e in entries},
                {e["config_names"]: e["config_value"] for e in entries if _on_topic(e)},
            )
    return found


def _on_topic(entry: dict[str, Any]) -> bool:
    if "config_source" in entry:
        return bool(entry["config_source"] == _DYNAMIC_TOPIC_CONFIG)
    return not entry["is_default"]  # DescribeConfigs v0 has no source, only "is default"


async def apply_plan(settings: Settings, plan: Plan) -> list[Action]:
    """Make the plan's changes in order; stop at the first the cluster refuses.

    Returns the actions made. A plan with refusals is not applied at all.
    """
    if plan.refusals:
        raise TopicsError(
            "the plan has refusals, so nothing was applied: "
            + "; ".join(f"{r.topic}: {r.reason}" for r in plan.refusals)
        )
    done: list[Action] = []
    async with _admin(settings) as admin:
        for action in plan.actions:
            await _apply(admin, action)
            logger.info("%s %s: %s", action.kind, action.topic, action.detail)
            done.append(action)
    return done


async def _apply(admin: AIOKafkaAdminClient, action: Action) -> None:
    name = action.topic
    if action.kind == "create":
        topic = NewTopic(name, action.partitions, action.replication, topic_configs=action.config)
        response = (await admin.create_topics([topic])).to_object()
        _check(action, [(e["error_code"], e["error_message"]) for e in response["topic_errors"]])
    elif action.kind == "add-partitions":
        try:
            await admin.create_partitions({name: NewPartitions(action.partitions)})
        except KafkaError as error:
            raise _refused(action, str(error), error.retriable) from None
    elif action.kind == "alter-config":
        resource = ConfigResource(ConfigResourceType.TOPIC, name, action.config)
        for response in await admin.alter_configs([resource]):
            errors = response.to_object()["resources"]
            _check(action, [(e["error_code"], e["error_message"]) for e in errors])
    else:
        response = (await admin.delete_topics([name])).to_object()
        _check(action, [(e["error_code"], None) for e in response["topic_error_codes"]])


def _check(action: Action, results: list[tuple[int, str | None]]) -> None:
    for code, message in results:
        if code == _TOPIC_EXISTS and action.kind == "create":
            logger.info("topic %s was created by someone else meanwhile", action.topic)
        elif code:
            error = for_code(code)
            raise _refused(action, message or error.__name__, bool(error.retriable))


def _refused(action: Action, message: str, retriable: bool) -> TopicsApplyError:
    return TopicsApplyError(
        f"{action.kind} of topic {action.topic} ({action.detail}) failed: {message}",
        topic=action.topic,
        retriable=retriable,
    )
