"""A worker's topics that went missing: said loudly, once per topic every 10 s, and published.

A topic deleted under a running worker (or a cluster wiped) used to show only as aiokafka's
own errors, hundreds of KB a second, or as silence. :class:`TopicWatch` asks the cluster
whether its topics exist every few seconds (one metadata request for them, never per batch)
and logs one line per missing topic every ``every_s`` seconds, naming its role and the fix;
aiokafka's repeats are quietened (:mod:`streamworks.kafka.missing_topics`). The worker's
stats carry the missing topics (:attr:`TopicWatch.missing`), so ``streamworks status`` marks
its stage. When a topic comes back the worker says so and refreshes its consumer's metadata,
so its group takes the topic's partitions again without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from streamworks.core.settings import Settings
from streamworks.kafka.metadata import cluster_metadata, topic_names
from streamworks.kafka.missing_topics import quiet_missing_topics
from streamworks.pipeline.graph import Pipeline

__all__ = ["MissingTopics", "Notice", "TopicWatch", "roles_of"]

logger = logging.getLogger(__name__)


def roles_of(pipeline: Pipeline, stage: str) -> dict[str, str]:
    """Every topic a worker of ``stage`` uses, with its role (``input of stage validate``)."""
    found = pipeline.stages[stage]
    roles: dict[str, list[str]] = {}
    named = [
        *((t, "input") for t in found.inputs),
        *((t, "output") for t in found.outputs),
        *((t.topic, "table") for t in found.tables),
        (pipeline.dead_letter_topic(stage), "dead-letter topic"),
    ]
    if found.aggregation is not None:
        named.append((found.aggregation.changelog, "changelog"))
    for topic, role in named:
        roles.setdefault(topic, []).append(role)
    return {topic: f"{' and '.join(r)} of stage {stage}" for topic, r in roles.items()}


@dataclass(frozen=True)
class Notice:
    """One line to log about a topic."""

    level: int
    """``logging.WARNING`` while missing, ``logging.INFO`` when it came back."""
    message: str
    """The line, naming the topic, its role and what to do."""


class MissingTopics:
    """Which of a worker's topics are missing, and when to say so (pure: no Kafka, no clock).

    ``roles`` maps each topic to its role; ``pipeline`` names what ``topics apply`` takes.
    """

    def __init__(self, roles: Mapping[str, str], pipeline: str, *, every_s: float = 10.0) -> None:
        self._roles = dict(roles)
        self._pipeline = pipeline
        self._every_s = every_s
        self._since: dict[str, float] = {}
        self._said: dict[str, float] = {}

    @property
    def watched(self) -> list[str]:
        """The topics watched, sorted."""
        return sorted(self._roles)

    @property
    def missing(self) -> tuple[str, ...]:
        """The topics missing at the last :meth:`seen`, sorted."""
        return tuple(sorted(self._since))

    def seen(self, existing: Collection[str], now: float) -> list[Notice]:
        """Take the cluster's topics at ``now`` (seconds); return the lines due."""
        notices = []
        present = set(existing)
        for topic in sorted(self._roles):
            role = self._roles[topic]
            if topic in present:
                if self._since.pop(topic, None) is not None:
                    del self._said[topic]
                    notices.append(Notice(logging.INFO, f"topic {topic} is back ({role})"))
                continue
            since = self._since.setdefault(topic, now)
            if now - self._said.get(topic, -self._every_s) < self._every_s:
                continue
            self._said[topic] = now
            gone = f" for {now - since:.0f} s" if now > since else ""
            notices.append(
                Notice(
                    logging.WARNING,
                    f"topic {topic} is missing ({role}){gone}; "
                    f"create it with: streamworks topics apply {self._pipeline}",
                )
            )
        return notices


class TopicWatch:
    """Checks a worker's topics every ``interval_s`` seconds in the background.

    ``on_change`` is called with the topics that went missing or came back (the worker
    refreshes its consumer's metadata: librdkafka would otherwise see a deleted topic only
    at its next periodic refresh, and go on reading its re-created namesake from the old
    positions); ``worker`` is the id its stats are published under.
    """

    def __init__(
        self,
        settings: Settings,
        topics: MissingTopics,
        *,
        worker: str,
        on_change: Callable[[set[str]], None],
        interval_s: float = 3.0,
    ) -> None:
        self._settings = settings
        self.topics = topics
        self._worker = worker
        self._on_change = on_change
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start checking (and quieten aiokafka's repeats of missing-topic errors)."""
        quiet_missing_topics()
        self._task = asyncio.create_task(self._loop())

    @property
    def missing(self) -> list[str]:
        """The worker's topics missing at the last check, sorted (its stats carry them)."""
        return list(self.topics.missing)

    async def stop(self) -> None:
        """Stop checking."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def check(self, existing: Collection[str]) -> None:
        """Take the cluster's topics; log what is due; note what went or came back."""
        before = set(self.topics.missing)
        for notice in self.topics.seen(existing, time.monotonic()):
            logger.log(notice.level, "%s", notice.message)
        changed = before ^ set(self.topics.missing)
        if changed:
            self._on_change(changed)

    async def _loop(self) -> None:
        settings = self._settings
        while True:
            try:
                # a connection of its own, closed before the next check (never auto-creates);
                # only the worker's topics: the whole cluster's took ~20 ms of the event loop
                # on a broker with 900 topics, every check, in every worker
                metadata = await cluster_metadata(
                    settings.bootstrap_servers, settings, topics=self.topics.watched
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - a broker away is reported elsewhere
                logger.debug("could not check the topics of %s: %r", self._worker, error)
                metadata = None
            if metadata is not None:
                self.check(topic_names(metadata))
            await asyncio.sleep(self._interval_s)
