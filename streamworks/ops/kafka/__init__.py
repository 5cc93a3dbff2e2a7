"""The local Apache Kafka broker: pinned jars from Maven Central and a KRaft launcher."""

from streamworks.ops.kafka.errors import (
    BrokerDiedError,
    BrokerNotReadyError,
    ClusterShapeError,
    JarFetchError,
    KafkaLauncherError,
    PortInUseError,
    ScramUserError,
    ToolMissingError,
)
from streamworks.ops.kafka.jars import cache_dir, ensure_jars, kafka_version
from streamworks.ops.kafka.launcher import (
    LocalCluster,
    NodeStatus,
    free_port_block,
    port_accepts,
    single_node_settings,
)

__all__ = [
    "BrokerDiedError",
    "BrokerNotReadyError",
    "ClusterShapeError",
    "JarFetchError",
    "KafkaLauncherError",
    "LocalCluster",
    "NodeStatus",
    "PortInUseError",
    "ScramUserError",
    "ToolMissingError",
    "cache_dir",
    "ensure_jars",
    "free_port_block",
    "kafka_version",
    "port_accepts",
    "single_node_settings",
]
