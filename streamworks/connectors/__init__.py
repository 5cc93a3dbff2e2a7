"""Connectors: sources that bring outside data into topics, sinks that take it out.

``streamworks.connectors.base`` holds the contracts and the runtime; each other package is one kind.
"""

from streamworks.connectors.base.worker import ConnectorCounts, ConnectWorker
from streamworks.connectors.kinds import KINDS, load_file

__all__ = ["KINDS", "ConnectWorker", "ConnectorCounts", "load_file"]
