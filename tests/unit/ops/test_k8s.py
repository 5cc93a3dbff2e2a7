"""The Kubernetes manifests, without a cluster: schemas, and agreement with the pipeline.

Core objects are validated strictly (unknown fields fail) against the Kubernetes JSON
schemas that ``kubernetes-validate`` ships; it has no KEDA schema, so ScaledObjects are
checked field by field against KEDA's documented ``keda.sh/v1alpha1`` shape.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from streamworks.connectors import load_file
from streamworks.connectors.http import HttpSourceConfig
from streamworks.ops.cli import app
from streamworks.ops.k8s import RenderOptions, dump, render
from streamworks.ops.k8s.objects import IMAGE_UID
from streamworks.ops.k8s.render import SECRET_FILE
from streamworks.ops.project import load_pipeline
from streamworks.pipeline.graph import Pipeline

COMMITTED = Path(__file__).parents[3] / "ops" / "k8s" / "orders"
SINKS_FILE = Path(__file__).parents[3] / "connectors" / "sinks.yaml"
KUBERNETES_VERSIONS = ("1.28.0", kubernetes_validate.latest_version())
SCALED_OBJECT_SPEC = {
    "scaleTargetRef",
    "minReplicaCount",
    "maxReplicaCount",
    "pollingInterval",
    "cooldownPeriod",
    "idleReplicaCount",
    "initialCooldownPeriod",
    "fallback",
    "advanced",
    "triggers",
}
KAFKA_REQUIRED = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold"}
KAFKA_KNOWN = KAFKA_REQUIRED | {
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "excludePersistentLag",
    "scaleToZeroOnInvalidOffset",
    "limitToPartitionsWithLag",
    "version",
}

Objects = dict[str, list[dict[str, Any]]]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default flagship: no prefix or guarantee from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("STREAMWORKS_"):
            monkeypatch.delenv(key)


@pytest.fixture
def pipeline(clean_env: None) -> Pipeline:
    return load_pipeline("orders")


@pytest.fixture
def files(pipeline: Pipeline) -> Objects:
    return render(pipeline, "orders", RenderOptions(), {})


def every(files: Objects) -> list[dict[str, Any]]:
    return [o for objects in files.values() for o in objects]


def one(files: Objects, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in every(files) if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} called {name}"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_committed_manifests_equal_a_fresh_render(files: Objects) -> None:
    committed = {str(p.relative_to(COMMITTED)) for p in COMMITTED.rglob("*.yaml")}
    assert committed == set(files), "re-run: streamworks k8s render orders"
    for name, objects in files.items():
        text = (COMMITTED / name).read_text(encoding="utf-8")
        assert text == dump(objects), f"{name} is stale; re-run: streamworks k8s render orders"
        assert list(yaml.safe_load_all(text)) == objects


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_objects_match_the_schemas_strictly(files: Objects, version: str) -> None:
    core = [o for o in every(files) if not o["apiVersion"].startswith("keda.sh/")]
    assert {o["kind"] for o in core} == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
    }
    for manifest in core:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_validator_rejects_what_a_cluster_would(files: Objects) -> None:
    broken = yaml.safe_load(dump([one(files, "Deployment", "orders-clean")]))
    container(broken)["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_scaled_objects_have_the_keda_shape(files: Objects) -> None:
    scaled = [o for o in every(files) if o["kind"] == "ScaledObject"]
    deployments = {o["metadata"]["name"] for o in every(files) if o["kind"] == "Deployment"}
    assert scaled
    for manifest in scaled:
        assert manifest["apiVersion"] == "keda.sh/v1alpha1"
        assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
        assert manifest["metadata"]["namespace"] == "streamworks"
        spec = manifest["spec"]
        assert set(spec) <= SCALED_OBJECT_SPEC
        target = spec["scaleTargetRef"]
        assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": target["name"]}
        assert target["name"] in deployments
        assert spec["minReplicaCount"] == 1
        assert isinstance(spec["maxReplicaCount"], int)
        assert spec["maxReplicaCount"] >= spec["minReplicaCount"]
        assert spec["triggers"]
        for trigger in spec["triggers"]:
            assert set(trigger) == {"type", "metadata"}
            assert trigger["type"] == "kafka"
            metadata = trigger["metadata"]
            assert KAFKA_REQUIRED <= set(metadata) <= KAFKA_KNOWN
            assert all(isinstance(v, str) for v in metadata.values()), "KEDA wants strings"
            assert int(metadata["lagThreshold"]) > 0
            assert metadata["bootstrapServers"] == "kafka:9092"


def test_every_stage_runs_and_scales_as_the_pipeline_says(
    files: Objects, pipeline: Pipeline
) -> None:
    partitions = {name: spec.partitions for name, spec in pipeline.topics().items()}
    scaled = [o for o in every(files) if o["kind"] == "ScaledObject"]
    assert len(scaled) == len(pipeline.stages) + 1  # and the sinks
    for stage, definition in pipeline.stages.items():
        name = "orders-" + stage.replace(".", "-")
        deployment = one(files, "Deployment", name)
        labels = {
            "app.kubernetes.io/name": "streamworks",
            "app.kubernetes.io/component": "stage",
            "streamworks.io/pipeline": "orders",
            "streamworks.io/stage": stage,
        }
        assert deployment["metadata"]["labels"] == labels
        assert deployment["spec"]["selector"]["matchLabels"] == labels
        assert deployment["spec"]["template"]["metadata"]["labels"] == labels
        assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
        assert container(deployment)["args"] == ["worker", "orders", "--stage", stage]
        spec = one(files, "ScaledObject", name)["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        triggers = [t["metadata"] for t in spec["triggers"]]
        assert {t["consumerGroup"] for t in triggers} == {pipeline.group_id(stage)}
        assert sorted(t["topic"] for t in triggers) == sorted(definition.inputs)
        assert spec["maxReplicaCount"] == max(partitions[t] for t in definition.inputs)


def test_sinks_scale_on_their_groups_capped_at_their_partitions(
    files: Objects, pipeline: Pipeline
) -> None:
    sinks = load_file_with_url(SINKS_FILE)
    spec = one(files, "ScaledObject", "orders-sinks")["spec"]
    triggers = {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in spec["triggers"]}
    assert triggers == {
        ("connect-orders-orders-to-postgres", "orders.enriched"),
        ("connect-orders-revenue-to-postgres", "orders.metrics.revenue"),
    }
    assert triggers == {(s.group_id, t) for s in sinks for t in getattr(s, "topics", [])}
    topics = pipeline.topics()
    assert spec["maxReplicaCount"] == max(topics[t].partitions for _, t in triggers)
    deployment = one(files, "Deployment", "orders-sinks")
    assert container(deployment)["args"] == ["connect", "/etc/streamworks/connectors/sinks.yaml"]
    mounted = one(files, "ConfigMap", "orders-sinks")["data"]["sinks.yaml"]
    assert mounted == SINKS_FILE.read_text(encoding="utf-8")


def load_file_with_url(path: Path) -> list[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STREAMWORKS_POSTGRES_URL", "postgresql://u:p@127.0.0.1:5432/db")
        return load_file(path)


def test_ingest_is_one_replica_listening_behind_its_service(files: Objects, tmp_path: Path) -> None:
    deployment = one(files, "Deployment", "orders-ingest")
    assert deployment["spec"]["replicas"] == 1
    assert not [o for o in every(files) if o["kind"] == "ScaledObject" and "ingest" in str(o)]
    ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    assert ports == {"metrics": 9400, "http": 8088}
    svc = one(files, "Service", "orders-ingest")
    assert svc["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(8088, "http")]
    mounted = tmp_path / "ingest.yaml"
    mounted.write_text(one(files, "ConfigMap", "orders-ingest")["data"]["ingest.yaml"])
    settings = one(files, "ConfigMap", "orders-settings")["data"]
    with pytest.MonkeyPatch.context() as patch:  # the pod's environment
        for key, value in settings.items():
            patch.setenv(key, value)
        http = [c for c in load_file(mounted) if isinstance(c, HttpSourceConfig)]
    assert [(c.host, c.port, c.topic) for c in http] == [
        ("0.0.0.0", 8088, "orders.raw")  # noqa: S104 - the pod's address, behind the Service
    ]


def test_settings_secret_and_mounts_resolve(files: Objects) -> None:
    settings = one(files, "ConfigMap", "orders-settings")["data"]
    assert settings["STREAMWORKS_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert settings["STREAMWORKS_REGISTRY_URL"] == "http://streamworks-registry:8081"
    assert settings["STREAMWORKS_GUARANTEE"] == "at-least-once"
    assert settings["STREAMWORKS_METRICS_PORT"] == "9400"
    assert files[SECRET_FILE][0]["stringData"].keys() == {"STREAMWORKS_POSTGRES_URL"}
    names = {(o["kind"], o["metadata"]["name"]) for o in every(files)}
    for deployment in (o for o in every(files) if o["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for source in container(deployment)["envFrom"]:
            ref = source.get("configMapRef") or source["secretRef"]
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            assert (kind, ref["name"]) in names or ref.get("optional") is True
        for volume in pod["volumes"]:
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
        assert container(deployment)["image"].startswith("streamworks/platform:")
    registry = one(files, "Service", "streamworks-registry")
    assert registry["spec"]["ports"][0]["port"] == 8081


def test_pods_run_as_the_images_own_non_root_user(files: Objects) -> None:
    dockerfile = (Path(__file__).parents[3] / "ops/containers/Dockerfile").read_text()
    assert f"--uid {IMAGE_UID} " in dockerfile
    assert "\nUSER streamworks\n" in dockerfile
    for deployment in (o for o in every(files) if o["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (IMAGE_UID,) * 3
        assert container(deployment)["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_prefix_renames_groups_and_reaches_the_pods(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMWORKS_ORDERS_PREFIX", "shop")
    files = render(load_pipeline("orders"), "orders", RenderOptions(), dict(os.environ))
    assert one(files, "ConfigMap", "shop-settings")["data"]["STREAMWORKS_ORDERS_PREFIX"] == "shop"
    clean = one(files, "ScaledObject", "shop-clean")["spec"]["triggers"][0]["metadata"]
    assert (clean["consumerGroup"], clean["topic"]) == ("shop.clean", "shop.raw")
    sinks = one(files, "ScaledObject", "shop-sinks")["spec"]["triggers"]
    assert sinks[0]["metadata"]["consumerGroup"] == "connect-shop-orders-to-postgres"


def test_the_command_writes_a_folder_kubectl_can_apply(clean_env: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            *("k8s", "render", "orders", "--out", str(tmp_path), "--image", "local/sw:dev"),
            *("--namespace", "shop-prod", "--bootstrap", "kafka.data:9092"),
        ],
    )
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.yaml"))
    assert written == sorted(str(p.relative_to(COMMITTED)) for p in COMMITTED.rglob("*.yaml"))
    objects = [o for p in tmp_path.rglob("*.yaml") for o in yaml.safe_load_all(p.read_text())]
    assert {o["metadata"].get("namespace", "shop-prod") for o in objects} == {"shop-prod"}
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert {container(d)["image"] for d in deployments} == {"local/sw:dev"}
    triggers = [t for o in objects if o["kind"] == "ScaledObject" for t in o["spec"]["triggers"]]
    assert {t["metadata"]["bootstrapServers"] for t in triggers} == {"kafka.data:9092"}


def test_each_stage_and_the_registry_may_get_their_own_kafka_login(files: Objects) -> None:
    logins = {
        deployment["metadata"]["name"]: [
            source["secretRef"]["name"]
            for source in container(deployment)["envFrom"]
            if source.get("secretRef", {}).get("optional")
        ]
        for deployment in (o for o in every(files) if o["kind"] == "Deployment")
    }
    assert logins["orders-validate"] == ["orders-validate-kafka-login"]
    assert logins["orders-revenue-repartition"] == ["orders-revenue-repartition-kafka-login"]
    assert logins["streamworks-registry"] == ["schema-registry-kafka-login"]
