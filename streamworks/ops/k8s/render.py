"""Kubernetes manifests generated from a pipeline definition, so they cannot drift from it.

``render`` returns the objects per file; ``write`` puts them in a folder that
``kubectl apply -f`` takes as it is (the Secret template goes under ``templates/``, so
applying the folder never overwrites a real Secret with the placeholder).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from streamworks.connectors.http.config import HOST_ENV
from streamworks.ops.k8s.connectors import connector_files
from streamworks.ops.k8s.objects import (
    DATA_DIR,
    Manifest,
    config_map,
    dns_name,
    labels,
    namespace,
    secret,
)
from streamworks.ops.k8s.options import RenderOptions
from streamworks.ops.k8s.workloads import (
    Names,
    ingest_objects,
    registry_objects,
    sink_objects,
    stage_objects,
)
from streamworks.pipeline.graph import Pipeline

__all__ = ["SECRET_FILE", "dump", "render", "write"]

SECRET_FILE = "templates/postgres-secret.yaml"  # noqa: S105 - a file name, not a secret


def render(
    pipeline: Pipeline, reference: str, options: RenderOptions, environment: Mapping[str, str]
) -> dict[str, list[Manifest]]:
    """Every object of ``pipeline`` (loaded from ``reference``) by file name.

    ``STREAMWORKS_<REFERENCE>_*`` variables of ``environment`` (such as
    ``STREAMWORKS_ORDERS_PREFIX``) are copied into the settings, so the pods build the
    pipeline that was rendered.
    """
    names = Names(pipeline.name, options.namespace)
    own = f"STREAMWORKS_{reference.upper()}_"
    settings = {
        "STREAMWORKS_BOOTSTRAP_SERVERS": options.bootstrap,
        "STREAMWORKS_REGISTRY_URL": names.registry_url,
        "STREAMWORKS_GUARANTEE": pipeline.guarantee,
        "STREAMWORKS_METRICS_HOST": "0.0.0.0",  # noqa: S104 - probes and Prometheus reach pods
        # HTTP sources that name no host listen on the pod's address, behind their Service
        HOST_ENV: "0.0.0.0",  # noqa: S104
        "STREAMWORKS_METRICS_PORT": str(names.metrics_port),
        "STREAMWORKS_STATE_DIR": f"{DATA_DIR}/state",
        **{key: environment[key] for key in sorted(environment) if key.startswith(own)},
    }
    files: dict[str, list[Manifest]] = {
        "00-namespace.yaml": [namespace(options.namespace, labels(pipeline.name, "namespace"))],
        "01-settings.yaml": [
            config_map(names.settings, options.namespace, labels(pipeline.name, "config"), settings)
        ],
        "02-registry.yaml": registry_objects(names, options.image),
    }
    for index, stage in enumerate(pipeline.stages, start=10):
        objects = stage_objects(pipeline, stage, names, options)
        files[f"{index:02d}-stage-{dns_name(stage)}.yaml"] = objects
    ingest, sinks = connector_files(reference)
    if ingest := options.ingest or ingest:
        files["80-ingest.yaml"] = ingest_objects(ingest, names, options.image)
    if sinks := options.sinks or sinks:
        files["81-sinks.yaml"] = sink_objects(pipeline, sinks, names, options)
        placeholder = {"STREAMWORKS_POSTGRES_URL": "postgresql://USER:PASSWORD@HOST:5432/DB"}
        files[SECRET_FILE] = [
            secret(names.secret, options.namespace, labels(pipeline.name, "config"), placeholder)
        ]
    return files


class _Dumper(yaml.SafeDumper):
    """Plain YAML for people: no anchors for shared values, file texts as ``|`` blocks."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(objects: list[Manifest]) -> str:
    """Objects as one multi-document YAML text, keys in the order they were built."""
    return "---\n".join(yaml.dump(o, Dumper=_Dumper, sort_keys=False, width=100) for o in objects)


def write(files: dict[str, list[Manifest]], out: Path) -> list[Path]:
    """Write every file under ``out`` (created) and return the paths written."""
    written = []
    for name, objects in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(objects), encoding="utf-8")
        written.append(path)
    return written
