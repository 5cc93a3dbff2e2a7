"""Plain Kubernetes objects as dicts: the few shapes the renderer needs, nothing more.

Every object carries the ``app.kubernetes.io/name: streamworks`` label and the pipeline's
``streamworks.io/pipeline`` label, so ``kubectl get all -l streamworks.io/pipeline=orders``
lists one pipeline's part of the cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DATA_DIR",
    "IMAGE_UID",
    "Manifest",
    "Workload",
    "config_map",
    "deployment",
    "dns_name",
    "labels",
    "namespace",
    "secret",
    "service",
]

Manifest = dict[str, Any]
"""One Kubernetes object, ready for ``yaml.safe_dump``."""

DATA_DIR = "/var/lib/streamworks"
"""Writable scratch volume in every pod (table state, file inboxes); the working directory."""
IMAGE_UID = 1000
"""User and group id of ``streamworks`` in the platform image (ops/containers/Dockerfile)."""


def dns_name(*parts: str) -> str:
    """A DNS-1123 label from parts: ``("orders", "revenue.repartition")`` is
    ``orders-revenue-repartition``."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:63].rstrip("-")


def labels(pipeline: str, component: str, **extra: str) -> dict[str, str]:
    """The labels of every object of ``component`` (stage, registry, connector, config)."""
    found = {
        "app.kubernetes.io/name": "streamworks",
        "app.kubernetes.io/component": component,
        "streamworks.io/pipeline": pipeline,
    }
    found.update({f"streamworks.io/{key}": value for key, value in extra.items()})
    return found


def _meta(name: str, namespace: str, label_set: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": label_set}


def namespace(name: str, label_set: dict[str, str]) -> Manifest:
    """The namespace everything else lives in."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": label_set},
    }


def config_map(name: str, ns: str, label_set: dict[str, str], data: dict[str, str]) -> Manifest:
    """A ConfigMap of text entries (settings, or whole files)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name, ns, label_set),
        "data": data,
    }


def secret(name: str, ns: str, label_set: dict[str, str], data: dict[str, str]) -> Manifest:
    """An Opaque Secret written as ``stringData`` (plain text, encoded by the API server)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name, ns, label_set),
        "type": "Opaque",
        "stringData": data,
    }


def service(name: str, ns: str, label_set: dict[str, str], ports: dict[str, int]) -> Manifest:
    """A ClusterIP Service in front of the pods carrying ``label_set``, one port per name."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, ns, label_set),
        "spec": {
            "selector": label_set,
            "ports": [
                {"name": port_name, "port": port, "targetPort": port_name}
                for port_name, port in ports.items()
            ],
        },
    }


@dataclass(frozen=True)
class Workload:
    """What differs between the platform's Deployments."""

    name: str
    """Deployment name (a DNS label)."""
    label_set: dict[str, str]
    """Labels of the Deployment, its selector and its pods."""
    args: list[str]
    """Arguments of the ``streamworks`` command."""
    ports: dict[str, int]
    """Container ports by name; probes refer to them by name."""
    readiness: dict[str, Any]
    """Readiness probe handler (``httpGet`` or ``tcpSocket``)."""
    liveness: dict[str, Any]
    """Liveness probe handler."""
    env_from: list[dict[str, Any]]
    """``envFrom`` sources: the settings ConfigMap, maybe a Secret."""
    resources: dict[str, dict[str, str]]
    """Requests and limits."""
    replicas: int | None = None
    """Fixed replica count, or None when KEDA owns it."""
    files: tuple[str, str] | None = None
    """(ConfigMap, mount path) of files the command reads, or None."""


def deployment(workload: Workload, ns: str, image: str) -> Manifest:
    """A Deployment running ``streamworks <args>`` in one container of ``image``."""
    mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": DATA_DIR}]
    volumes: list[dict[str, Any]] = [{"name": "data", "emptyDir": {}}]
    if workload.files is not None:
        config, path = workload.files
        mounts.append({"name": "files", "mountPath": path, "readOnly": True})
        volumes.append({"name": "files", "configMap": {"name": config}})
    container = {
        "name": "streamworks",
        "image": image,
        "command": ["streamworks"],
        "args": workload.args,
        "workingDir": DATA_DIR,
        "envFrom": workload.env_from,
        "ports": [
            {"name": name, "containerPort": port, "protocol": "TCP"}
            for name, port in workload.ports.items()
        ],
        "resources": workload.resources,
        "readinessProbe": {**workload.readiness, "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {
            **workload.liveness,
            "initialDelaySeconds": 30,
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    spec: dict[str, Any] = {
        "selector": {"matchLabels": workload.label_set},
        "template": {
            "metadata": {"labels": workload.label_set},
            "spec": {
                # SIGTERM drains and commits; give a worker time to finish its batch
                "terminationGracePeriodSeconds": 60,
                # the platform image's user; fsGroup makes the data volume its own
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": IMAGE_UID,
                    "runAsGroup": IMAGE_UID,
                    "fsGroup": IMAGE_UID,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    if workload.replicas is not None:
        spec = {"replicas": workload.replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(workload.name, ns, workload.label_set),
        "spec": spec,
    }
