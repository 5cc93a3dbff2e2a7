"""The streamworks test kit: real-broker fixtures (a pytest plugin) and waiting helpers."""

from streamworks.ops.running import RunPipeline
from streamworks.testing._broker import (
    KafkaEndpoint,
    container_broker,
    docker_answers,
    kafka_broker,
    local_cluster,
)
from streamworks.testing.helpers import TopicFactory, consume_until, produce, unique_name, wait_for

__all__ = [
    "KafkaEndpoint",
    "RunPipeline",
    "TopicFactory",
    "consume_until",
    "container_broker",
    "docker_answers",
    "kafka_broker",
    "local_cluster",
    "produce",
    "unique_name",
    "wait_for",
]
