"""Making the cluster's ACLs match a plan: create what is missing, optionally prune the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamworks.connectors.base.config import ConnectorConfig, SourceConfig
from streamworks.connectors.base.positions import PositionStore
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.acl.kafka import create_acls, delete_acls, describe_acls
from streamworks.ops.acl.model import Binding
from streamworks.pipeline.graph import Pipeline
from streamworks.registry.log import ensure_topic as ensure_registry_topic
from streamworks.runtime.stats import ensure_stats_topic
from streamworks.runtime.topics import ensure_topic, ensure_topics

__all__ = ["Changes", "apply_plan", "create_topics"]


@dataclass(frozen=True)
class Changes:
    """What :func:`apply_plan` did."""

    created: list[Binding]
    """Bindings that were missing and now exist."""
    deleted: list[Binding]
    """Bindings of the plan's principals that the plan does not hold (only with prune)."""
    kept: int
    """Bindings that were already there."""


async def apply_plan(settings: Settings, bindings: Sequence[Binding], *, prune: bool) -> Changes:
    """Create the missing ``bindings``; with ``prune``, delete other ALLOW rules of the same
    principals, so each holds exactly what the plan gives it. Needs an admin login."""
    wanted = {b.rule: b for b in bindings}
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        present: list[Binding] = []
        for principal in dict.fromkeys(b.principal for b in bindings):
            present += await describe_acls(admin, principal)
        have = {b.rule for b in present}
        missing = [b for rule, b in wanted.items() if rule not in have]
        extra = [b for b in present if b.rule not in wanted] if prune else []
        await create_acls(admin, missing)
        await delete_acls(admin, extra)
    finally:
        await admin.close()
    return Changes(created=missing, deleted=extra, kept=len(wanted) - len(missing))


async def create_topics(
    settings: Settings,
    pipeline: Pipeline,
    connectors: Sequence[ConnectorConfig] = (),
    *,
    registry_topic: str | None = None,
) -> list[str]:
    """Create every topic the plan's principals use but may not create themselves.

    Returns the pipeline topics created (connector and platform topics are created quietly).
    """
    created = await ensure_topics(pipeline, settings)
    await ensure_stats_topic(settings)
    if registry_topic is not None:
        await ensure_registry_topic(settings, registry_topic)
    for config in connectors:  # a connector's data topics are the pipeline's to create
        await ensure_topic(settings, config.dlq_topic)
        if isinstance(config, SourceConfig):
            await PositionStore(config.name, settings).create_topic()
    return created
