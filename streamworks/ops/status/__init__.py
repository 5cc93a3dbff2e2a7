"""Pipeline status: per stage workers, lag in records and seconds, throughput, the bottleneck.

:class:`StatusCollector` samples it (the autoscaler and the dashboard reuse it);
``streamworks status PIPELINE`` prints it as a table, live with ``--watch``, or as JSON.
"""

from __future__ import annotations

from streamworks.ops.status.bottleneck import find_bottleneck, mark, trend
from streamworks.ops.status.collect import StatusCollector, collect_status
from streamworks.ops.status.commands import status
from streamworks.ops.status.errors import StatusError
from streamworks.ops.status.lag import Backlog, backlog, lag_seconds
from streamworks.ops.status.model import (
    PipelineStatus,
    StageKind,
    StageStatus,
    Trend,
    stage_status,
)
from streamworks.ops.status.rates import StageFigures, WorkerHistory, WorkerSample, stage_figures
from streamworks.ops.status.render import status_table

__all__ = [
    "Backlog",
    "PipelineStatus",
    "StageFigures",
    "StageKind",
    "StageStatus",
    "StatusCollector",
    "StatusError",
    "Trend",
    "WorkerHistory",
    "WorkerSample",
    "backlog",
    "collect_status",
    "find_bottleneck",
    "lag_seconds",
    "mark",
    "stage_figures",
    "stage_status",
    "status",
    "status_table",
    "trend",
]
