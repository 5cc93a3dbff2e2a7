"""The live dashboard: the pipeline drawn as a graph with lag, throughput and dead letters.

``streamworks dashboard PIPELINE`` serves it; :func:`start_dashboard` serves it inside a
running event loop (the supervisor, the demo). Everything it needs is served from this
package, so it works without the internet.
"""

from __future__ import annotations

from ops.dashboard.app import build_app
from ops.dashboard.commands import dashboard
from ops.dashboard.errors import DashboardError
from ops.dashboard.graph import Edge, Graph, Node, NodeKind, build_graph, layers
from ops.dashboard.live import LiveStatus
from ops.dashboard.serve import RunningDashboard, start_dashboard

__all__ = [
    "DashboardError",
    "Edge",
    "Graph",
    "LiveStatus",
    "Node",
    "NodeKind",
    "RunningDashboard",
    "build_app",
    "build_graph",
    "dashboard",
    "layers",
    "start_dashboard",
]
