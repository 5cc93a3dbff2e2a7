"""What a local cluster's directory keeps between runs: its shape and its nodes' storage.

``cluster.json`` records the shape the cluster was started with (node count, first port,
heap, security); each ``node-N/data/meta.properties`` proves that node's storage is
formatted and names the cluster id. Resuming a cluster needs both to agree with what is
asked; formatting anew (``--fresh``) deletes every ``node-N`` folder.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from streamworks.ops.kafka._files import NodeLayout
from streamworks.ops.kafka.errors import ClusterShapeError, KafkaLauncherError

__all__ = [
    "STATE_FILE",
    "Shape",
    "StoredData",
    "delete_storage",
    "read_cluster_id",
    "read_shape",
    "resumable",
    "stored_data",
    "write_shape",
]

STATE_FILE = "cluster.json"
_META = "meta.properties"
_NODE_DIR = re.compile(r"node-\d+")
_SECURE_DIR = "secure"
# a partition folder is <topic>-<partition>; deleted ones end in -delete, moving ones -future
_PARTITION_DIR = re.compile(r"(?P<topic>.+)-\d+")
_SHOWN_TOPICS = 4


@dataclass(frozen=True)
class Shape:
    """How a cluster listens: what must match for its data to be resumed."""

    nodes: int
    """How many combined broker+controller nodes it has."""
    port: int
    """The first broker's port; the others and the controllers follow it."""
    secure: bool
    """SASL_SSL with SCRAM logins (its SCRAM admin is in the cluster's own metadata)."""

    def describe(self) -> str:
        last = self.port + self.nodes - 1
        ports = f"port {self.port}" if self.nodes == 1 else f"ports {self.port}-{last}"
        kind = "secure " if self.secure else ""
        return f"{self.nodes} {kind}node(s) on {ports}"


def read_shape(directory: Path) -> tuple[Shape, str] | None:
    """The shape and heap ``cluster.json`` records, or None when there is none."""
    try:
        state = json.loads((directory / STATE_FILE).read_text())
        shape = Shape(int(state["nodes"]), int(state["port"]), bool(state.get("secure", False)))
        return shape, str(state["heap"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_shape(directory: Path, shape: Shape, heap: str) -> None:
    state = {"nodes": shape.nodes, "port": shape.port, "heap": heap, "secure": shape.secure}
    (directory / STATE_FILE).write_text(json.dumps(state) + "\n")


@dataclass(frozen=True)
class StoredData:
    """What the nodes' storage holds now."""

    cluster_ids: dict[int, str]
    """node id -> the cluster id its storage was formatted with (formatted nodes only)."""
    topics: tuple[str, ...]
    """Topics with a partition on some node, internal ``__`` topics left out, sorted."""
    size_bytes: int
    """Bytes under the nodes' data folders."""

    @property
    def cluster_id(self) -> str | None:
        """The cluster id, when any node is formatted."""
        return next(iter(self.cluster_ids.values()), None)

    def describe(self, directory: Path) -> str:
        """One line saying what formatting anew deletes."""
        shown = ", ".join(self.topics[:_SHOWN_TOPICS])
        more = len(self.topics) - _SHOWN_TOPICS
        listing = f": {shown}" + (f" and {more} more" if more > 0 else "") if self.topics else ""
        return (
            f"deleting Kafka cluster {self.cluster_id} in {directory}: "
            f"{len(self.topics)} topic(s){listing}, their records and the committed offsets "
            f"({self.size_bytes / 1e6:.1f} MB)"
        )


def stored_data(nodes: tuple[NodeLayout, ...]) -> StoredData:
    """The cluster ids, topics and size the nodes' data folders hold."""
    cluster_ids: dict[int, str] = {}
    topics: set[str] = set()
    size = 0
    for node in nodes:
        found = read_cluster_id(node)
        if found is not None:
            cluster_ids[node.node_id] = found
        if not node.data_dir.is_dir():
            continue
        for entry in node.data_dir.iterdir():
            match = _PARTITION_DIR.fullmatch(entry.name)
            if entry.is_dir() and match and not match["topic"].startswith("__"):
                topics.add(match["topic"])
        size += sum(_size(f) for f in node.data_dir.rglob("*"))
    return StoredData(cluster_ids, tuple(sorted(topics)), size)


def resumable(
    directory: Path,
    nodes: tuple[NodeLayout, ...],
    shape: Shape,
    stored: Shape | None,
    logins: Path | None,
) -> bool:
    """True when the nodes hold formatted storage a cluster of ``shape`` can resume; False
    when they hold none; an error when it was made for another shape (``stored``, from
    cluster.json), only some nodes are formatted, or a secure cluster lost its ``logins``."""
    cluster_ids = {n.node_id: found for n in nodes if (found := read_cluster_id(n)) is not None}
    if not cluster_ids:
        return False  # never formatted (or formatting failed): nothing to lose
    if stored is None:
        raise KafkaLauncherError(
            f"{directory} holds Kafka storage but no {STATE_FILE} saying how it listens; "
            "`streamworks kafka up --fresh` deletes it and formats anew"
        )
    if stored != shape:
        raise ClusterShapeError(str(directory), stored.describe(), shape.describe())
    blank = [str(node.node_id) for node in nodes if node.node_id not in cluster_ids]
    problem = None
    if blank:
        problem = f"node {', '.join(blank)} has no formatted storage"
    elif len(set(cluster_ids.values())) > 1:
        problem = "its nodes were formatted for different clusters"
    elif logins is not None and not logins.is_file():
        problem = f"its logins ({logins}) are gone"
    if problem is not None:
        raise KafkaLauncherError(
            f"the local Kafka cluster in {directory} cannot be resumed: {problem}; "
            "`streamworks kafka up --fresh` deletes its data and formats it anew"
        )
    return True


def delete_storage(directory: Path) -> None:
    """Delete every ``node-N`` folder (configuration, data, logs) of the cluster, and the
    CA and logins of a secure one."""
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and (_NODE_DIR.fullmatch(entry.name) or entry.name == _SECURE_DIR):
            shutil.rmtree(entry)


def read_cluster_id(node: NodeLayout) -> str | None:
    """The cluster id the node's storage was formatted with, or None when it is not."""
    return _cluster_id(node.data_dir / _META)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:  # a segment the broker deleted meanwhile
        return 0


def _cluster_id(meta: Path) -> str | None:
    try:
        lines = meta.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id" and value.strip():
            return value.strip()
    return None
