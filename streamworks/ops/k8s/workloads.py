"""The platform's workloads as Kubernetes objects: stages, registry, connector workers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamworks.ops.acl.derive import REGISTRY_PRINCIPAL
from streamworks.ops.k8s.connectors import MOUNT, read_connectors
from streamworks.ops.k8s.keda import KafkaLag, scaled_object
from streamworks.ops.k8s.objects import (
    Manifest,
    Workload,
    config_map,
    deployment,
    dns_name,
    labels,
    service,
)
from streamworks.ops.k8s.options import RenderOptions
from streamworks.pipeline.graph import Pipeline

__all__ = ["Names", "ingest_objects", "registry_objects", "sink_objects", "stage_objects"]

RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
_METRICS_PROBE: dict[str, Any] = {"httpGet": {"path": "/metrics", "port": "metrics"}}


@dataclass(frozen=True)
class Names:
    """Names shared between the objects of one pipeline."""

    pipeline: str
    """Pipeline name (its groups' prefix)."""
    namespace: str
    """Namespace of everything."""
    metrics_port: int = 9400
    """Port of every process's /metrics."""
    registry_port: int = 8081
    """Port of the schema registry."""

    @property
    def settings(self) -> str:
        """The ConfigMap of STREAMWORKS_* settings."""
        return dns_name(self.pipeline, "settings")

    @property
    def secret(self) -> str:
        """The Secret holding STREAMWORKS_POSTGRES_URL."""
        return dns_name(self.pipeline, "postgres")

    @property
    def registry(self) -> str:
        """The registry's Deployment and Service."""
        return "streamworks-registry"

    @property
    def registry_url(self) -> str:
        """The registry as the pods reach it."""
        return f"http://{self.registry}:{self.registry_port}"

    def env_from(self, *, secret: bool = False, login: str | None = None) -> list[dict[str, Any]]:
        """The settings ConfigMap, the Secret for workers that need it, and the optional
        Secret of a principal's Kafka login (see :meth:`login_secret`)."""
        sources: list[dict[str, Any]] = [{"configMapRef": {"name": self.settings}}]
        if secret:
            sources.append({"secretRef": {"name": self.secret}})
        if login is not None:
            sources.append({"secretRef": {"name": self.login_secret(login), "optional": True}})
        return sources

    def login_secret(self, principal: str) -> str:
        """The Secret a secured cluster's login of ``principal`` goes in (created by the
        operator, not rendered: STREAMWORKS_SASL_USERNAME and STREAMWORKS_SASL_PASSWORD).
        Optional, so an open cluster needs none; one per principal, so a stage's pods hold
        only their own password (``streamworks acl plan`` lists the principals)."""
        return dns_name(principal, "kafka-login")


def _max_partitions(pipeline: Pipeline, topics: list[str]) -> int:
    known = pipeline.topics()
    return max(known[t].partitions if t in known else pipeline.default_partitions for t in topics)


def stage_objects(
    pipeline: Pipeline, stage: str, names: Names, options: RenderOptions
) -> list[Manifest]:
    """A stage's Deployment (``worker <pipeline> --stage <stage>``) and its ScaledObject."""
    name = dns_name(pipeline.name, stage)
    label_set = labels(pipeline.name, "stage", stage=stage)
    inputs = list(pipeline.stages[stage].inputs)
    workload = Workload(
        name=name,
        label_set=label_set,
        args=["worker", pipeline.name, "--stage", stage],
        ports={"metrics": names.metrics_port},
        readiness=_METRICS_PROBE,
        liveness=_METRICS_PROBE,
        env_from=names.env_from(login=pipeline.group_id(stage)),
        resources=RESOURCES,
    )
    group = pipeline.group_id(stage)
    return [
        deployment(workload, names.namespace, options.image),
        scaled_object(
            name,
            names.namespace,
            label_set,
            bootstrap=options.bootstrap,
            lags=[KafkaLag(group, topic) for topic in inputs],
            max_replicas=_max_partitions(pipeline, inputs),
            lag_threshold=options.lag_threshold,
        ),
    ]


def registry_objects(names: Names, image: str) -> list[Manifest]:
    """The schema registry: one replica (all its state is in Kafka) and its Service."""
    label_set = labels(names.pipeline, "registry")
    port = {"registry": names.registry_port}
    workload = Workload(
        name=names.registry,
        label_set=label_set,
        args=["registry", "--host", "0.0.0.0", "--port", str(names.registry_port)],  # noqa: S104
        ports=port,
        readiness={"httpGet": {"path": "/subjects", "port": "registry"}},
        liveness={"tcpSocket": {"port": "registry"}},
        env_from=names.env_from(login=REGISTRY_PRINCIPAL),
        resources=RESOURCES,
        replicas=1,
    )
    return [
        deployment(workload, names.namespace, image),
        service(names.registry, names.namespace, label_set, port),
    ]


def ingest_objects(path: Path, names: Names, image: str) -> list[Manifest]:
    """The ingest file's ConfigMap, its one-replica Deployment and a Service on its ports."""
    loaded = read_connectors(path)
    name = dns_name(names.pipeline, "ingest")
    label_set = labels(names.pipeline, "connector", connectors="ingest")
    files = config_map(
        name, names.namespace, label_set, {path.name: path.read_text(encoding="utf-8")}
    )
    workload = Workload(
        name=name,
        label_set=label_set,
        args=["connect", loaded.mounted],
        ports={"metrics": names.metrics_port, **loaded.http_ports},
        readiness=_METRICS_PROBE,
        liveness=_METRICS_PROBE,
        env_from=names.env_from(),
        resources=RESOURCES,
        replicas=1,  # its sources own a port and an inbox
        files=(name, MOUNT),
    )
    objects = [files, deployment(workload, names.namespace, image)]
    if loaded.http_ports:
        objects.append(service(name, names.namespace, label_set, loaded.http_ports))
    return objects


def sink_objects(
    pipeline: Pipeline, path: Path, names: Names, options: RenderOptions
) -> list[Manifest]:
    """The sinks file's ConfigMap, Deployment, and a ScaledObject on every sink's lag."""
    loaded = read_connectors(path)
    name = dns_name(names.pipeline, "sinks")
    label_set = labels(names.pipeline, "connector", connectors="sinks")
    text = path.read_text(encoding="utf-8")
    workload = Workload(
        name=name,
        label_set=label_set,
        args=["connect", loaded.mounted],
        ports={"metrics": names.metrics_port},
        readiness=_METRICS_PROBE,
        liveness=_METRICS_PROBE,
        env_from=names.env_from(secret=True),
        resources=RESOURCES,
        files=(name, MOUNT),
    )
    lags = [KafkaLag(sink.group_id, topic) for sink in loaded.sinks for topic in sink.topics]
    return [
        config_map(name, names.namespace, label_set, {path.name: text}),
        deployment(workload, names.namespace, options.image),
        scaled_object(
            name,
            names.namespace,
            label_set,
            bootstrap=options.bootstrap,
            lags=lags,
            max_replicas=_max_partitions(pipeline, [lag.topic for lag in lags]),
            lag_threshold=options.lag_threshold,
        ),
    ]
