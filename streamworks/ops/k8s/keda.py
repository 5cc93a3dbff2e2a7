"""KEDA ScaledObjects: a Deployment's replicas follow its consumer groups' lag.

KEDA's ``kafka`` scaler reads a group's lag on a topic; one trigger per (group, topic) and
KEDA scales to the largest wanted count. Replicas are capped at the partition count: a
worker beyond it would own no partition and sit idle.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamworks.ops.k8s.objects import Manifest

__all__ = ["API_VERSION", "KafkaLag", "scaled_object"]

API_VERSION = "keda.sh/v1alpha1"


@dataclass(frozen=True)
class KafkaLag:
    """One ``kafka`` trigger: this group's lag on this topic."""

    group: str
    """Consumer group whose committed offsets count."""
    topic: str
    """Topic whose lag is measured."""


def scaled_object(
    name: str,
    namespace: str,
    label_set: dict[str, str],
    *,
    bootstrap: str,
    lags: list[KafkaLag],
    max_replicas: int,
    lag_threshold: int,
) -> Manifest:
    """A ScaledObject scaling Deployment ``name`` between 1 and ``max_replicas``."""
    triggers = [
        {
            "type": "kafka",
            "metadata": {
                "bootstrapServers": bootstrap,
                "consumerGroup": lag.group,
                "topic": lag.topic,
                # KEDA metadata values are strings
                "lagThreshold": str(lag_threshold),
                "offsetResetPolicy": "earliest",
                "allowIdleConsumers": "false",
            },
        }
        for lag in lags
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace, "labels": label_set},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": 1,
            "maxReplicaCount": max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 120,
            "triggers": triggers,
        },
    }
