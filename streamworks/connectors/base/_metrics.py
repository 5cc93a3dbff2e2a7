"""Prometheus figures of connectors, served by the worker's ``/metrics``.

Each runtime holds one :class:`ConnectorMetrics` bound to its connector's name and kind,
updated once per step (source) or batch (sink).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["DEAD_LETTERED", "PRODUCED", "RETRIES", "WRITE_SECONDS", "WRITTEN", "ConnectorMetrics"]

_LABELS = ("connector", "kind")

PRODUCED = Counter(
    "streamworks_connector_records_produced",
    "Records a source produced to its topic (acknowledged).",
    _LABELS,
)
WRITTEN = Counter(
    "streamworks_connector_records_written",
    "Records a sink wrote and flushed to the outside system.",
    _LABELS,
)
DEAD_LETTERED = Counter(
    "streamworks_connector_records_dead_lettered",
    "Records a connector sent to its dead-letter topic.",
    _LABELS,
)
RETRIES = Counter(
    "streamworks_connector_retries",
    "Waits before another attempt after a transient failure.",
    _LABELS,
)
WRITE_SECONDS = Histogram(
    "streamworks_connector_write_seconds",
    "Time of one successful sink batch: write and flush.",
    _LABELS,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


class ConnectorMetrics:
    """One connector's children of the connector families."""

    def __init__(self, name: str, kind: str) -> None:
        labels = (name, kind)
        self._produced = PRODUCED.labels(*labels)
        self._written = WRITTEN.labels(*labels)
        self._dead_lettered = DEAD_LETTERED.labels(*labels)
        self._retries = RETRIES.labels(*labels)
        self._write_seconds = WRITE_SECONDS.labels(*labels)

    def produced(self, records: int, dead_lettered: int) -> None:
        """A source step stored ``records`` and ``dead_lettered`` dead letters."""
        if records:
            self._produced.inc(records)
        self.dead_lettered(dead_lettered)

    def wrote(self, records: int, seconds: float) -> None:
        """A sink batch of ``records`` was written and flushed in ``seconds``."""
        self._written.inc(records)
        self._write_seconds.observe(seconds)

    def dead_lettered(self, records: int) -> None:
        """``records`` went to the dead-letter topic."""
        if records:
            self._dead_lettered.inc(records)

    def retried(self) -> None:
        """A transient failure: another attempt follows a wait."""
        self._retries.inc()
