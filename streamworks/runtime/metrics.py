"""Prometheus metrics of stage and aggregation workers, and the ``/metrics`` server.

Every process serves its own ``GET /metrics`` (:class:`MetricsServer`) from prometheus
client's default registry, so the process collector's CPU and memory come along. A worker
updates its families through one :class:`StageMetrics` bound to its labels (pipeline,
stage, worker id), once per batch or commit, never per record. The record counters move
when the worker counts records as done (committed), so they keep the stats topic's rule
``in = produced + filtered + dead_lettered + late`` (``late`` only moves for an
aggregation, whose ``produced`` is the inputs folded into its state). ``out`` is the
records written, as in ``streamworks status`` and the dashboard.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from streamworks.core.settings import Settings
from streamworks.runtime.processor import Counts

__all__ = [
    "BATCH_RECORDS",
    "BATCH_SECONDS",
    "COMMIT_SECONDS",
    "LAG",
    "REBALANCES",
    "RECORDS",
    "RESTORED",
    "RESTORE_PROGRESS",
    "MetricsServer",
    "StageMetrics",
    "metrics_response",
]

logger = logging.getLogger(__name__)

_STAGE = ("pipeline", "stage", "worker")
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_RECORD_FAMILIES = (
    # name, the Counts field it adds up, help
    ("in", "records_in", "Input records done (their offsets committed)."),
    (
        "out",
        "records_written",
        "Records written to the stage's outputs (a flat-map writes several per input; "
        "an aggregation: the results it emitted).",
    ),
    (
        "produced",
        "out",
        "Inputs that produced at least one output (an aggregation: inputs folded into its "
        "state); in = produced + filtered + dead_lettered + late.",
    ),
    ("filtered", "filtered", "Inputs the stage filtered out."),
    ("dead_lettered", "dead_lettered", "Inputs sent to the stage's dead-letter topic."),
    ("late", "late", "Aggregation inputs later than their window's grace."),
    (
        "written",
        "records_written",
        "Records written to the stage's outputs: the same figure as streamworks_records_out "
        "(kept for existing queries).",
    ),
    ("retries", "retries", "Extra attempts made for retriable errors."),
)
RECORDS = {
    name: Counter(f"streamworks_records_{name}", help_text, _STAGE)
    for name, _, help_text in _RECORD_FAMILIES
}
"""The record counters by name (``streamworks_records_in_total``...), each adding up one
:class:`~streamworks.runtime.processor.Counts` field."""
_FIELDS = {name: field for name, field, _ in _RECORD_FAMILIES}
BATCH_SECONDS = Histogram(
    "streamworks_batch_seconds",
    "Time to handle one fetched batch: process it and hand its outputs over.",
    _STAGE,
    buckets=_SECONDS,
)
BATCH_RECORDS = Histogram(
    "streamworks_batch_records",
    "Records in one fetched batch.",
    _STAGE,
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)
COMMIT_SECONDS = Histogram(
    "streamworks_commit_seconds",
    "Time of one offset commit (exactly-once: of one batch's transaction per partition).",
    _STAGE,
    buckets=_SECONDS,
)
LAG = Gauge(
    "streamworks_lag_records",
    "Records of an owned input partition not yet processed (highwater minus position, "
    "plus fetched records still waiting).",
    (*_STAGE, "topic", "partition"),
)
REBALANCES = Counter(
    "streamworks_rebalances", "Partition assignments this worker received.", _STAGE
)
RESTORE_PROGRESS = Gauge(
    "streamworks_restore_progress_ratio",
    "How far the restore of an aggregation task's store from its changelog is (1 = done).",
    (*_STAGE, "partition"),
)
RESTORED = Counter(
    "streamworks_restored_records", "Changelog records replayed into stores.", _STAGE
)


class StageMetrics:
    """One worker's children of the stage families, updated a batch at a time."""

    def __init__(self, pipeline: str, stage: str, worker: str) -> None:
        self.labels = (pipeline, stage, worker)
        """The pipeline, stage and worker id every sample carries."""
        self._records = [
            (_FIELDS[name], family.labels(*self.labels)) for name, family in RECORDS.items()
        ]
        self._batch_seconds = BATCH_SECONDS.labels(*self.labels)
        self._batch_records = BATCH_RECORDS.labels(*self.labels)
        self._commit_seconds = COMMIT_SECONDS.labels(*self.labels)
        self._rebalances = REBALANCES.labels(*self.labels)
        self._restored = RESTORED.labels(*self.labels)
        self._lagging: set[tuple[str, str]] = set()

    def counted(self, counts: Counts) -> None:
        """Add the figures of records just counted as done."""
        for field, child in self._records:
            value = getattr(counts, field)
            if value:
                child.inc(value)

    def batch(self, records: int, seconds: float) -> None:
        """One batch of ``records`` handled in ``seconds``."""
        self._batch_records.observe(records)
        self._batch_seconds.observe(seconds)

    def committed(self, seconds: float) -> None:
        """One commit took ``seconds``."""
        self._commit_seconds.observe(seconds)

    def rebalanced(self) -> None:
        """The group gave this worker a (new) assignment."""
        self._rebalances.inc()

    def lag(self, topic: str, partition: int, records: int) -> None:
        """Set the lag of one owned partition."""
        self._lagging.add((topic, str(partition)))
        LAG.labels(*self.labels, topic, str(partition)).set(records)

    def forget(self, partitions: set[tuple[str, int]] | None = None) -> None:
        """Drop the lag of partitions no longer owned (all of them when None)."""
        gone = (
            set(self._lagging)
            if partitions is None
            else {(topic, str(p)) for topic, p in partitions} & self._lagging
        )
        for topic, partition in gone:
            with contextlib.suppress(KeyError):
                LAG.remove(*self.labels, topic, partition)
        self._lagging -= gone

    def restoring(self, partition: int, done: int, total: int) -> None:
        """Restore progress of task ``partition``: ``done`` of ``total`` changelog offsets."""
        ratio = 1.0 if total <= 0 else min(1.0, done / total)
        RESTORE_PROGRESS.labels(*self.labels, str(partition)).set(ratio)

    def restored(self, records: int) -> None:
        """A restore replayed ``records`` changelog records."""
        self._restored.inc(records)


def metrics_response(registry: CollectorRegistry = REGISTRY) -> web.Response:
    """The text exposition of ``registry`` as an aiohttp response."""
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def _metrics(request: web.Request) -> web.Response:
    return metrics_response()


class MetricsServer:
    """Serves ``GET /metrics`` on ``settings.metrics_host:metrics_port`` (0: a free port).

    ``details()`` is what the worker publishes with its stats, so a scraper (or
    ``streamworks status``) can find a worker whose port was picked at random.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._runner: web.AppRunner | None = None
        self.address: str | None = None
        """``host:port`` it answers at, known once started."""

    def details(self) -> dict[str, Any]:
        """The address to publish with the worker's stats."""
        return {"metrics": self.address}

    async def start(self) -> None:
        """Start serving."""
        app = web.Application()
        app.router.add_get("/metrics", _metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.metrics_host, self._settings.metrics_port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        logger.info("metrics served at http://%s/metrics", self.address)

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
