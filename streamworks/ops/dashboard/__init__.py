"""The live dashboard: the pipeline drawn as a graph with lag, throughput and dead letters.

``streamworks dashboard PIPELINE`` serves it; :func:`start_dashboard` serves it inside a
running event loop (the supervisor, the demo). Everything it needs is served from this
package, so it works without the internet.
"""

from __future__ import annotations

from streamworks.ops.dashboard.app import build_app
from streamworks.ops.dashboard.commands import dashboard
from streamworks.ops.dashboard.errors import DashboardError
from streamworks.ops.dashboard.graph import Edge, Graph, Node, NodeKind, build_graph, layers
from streamworks.ops.dashboard.live import LiveStatus
from streamworks.ops.dashboard.serve import RunningDashboard, start_dashboard

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
