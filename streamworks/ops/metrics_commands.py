"""``streamworks metrics targets``: the live workers' /metrics addresses for Prometheus.

Workers listen on a free port each and publish the address with their stats; this turns the
stats topic into a Prometheus file_sd list (``ops/prometheus/targets/workers.json`` by
default), one group per pipeline and stage. Run it from cron or after scaling; Prometheus
re-reads the file on change.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from streamworks.core.settings import Settings
from streamworks.ops.cluster_options import Bootstrap, point_at
from streamworks.runtime.stats import read_latest

__all__ = ["app", "file_sd_groups"]

app = typer.Typer(help="Prometheus helpers.", no_args_is_help=True)
console = Console()

_DEFAULT = Path("ops/prometheus/targets/workers.json")


def file_sd_groups(latest: dict[bytes, dict[str, Any]]) -> list[dict[str, Any]]:
    """Live workers' metrics addresses grouped by pipeline and stage, as file_sd entries."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for value in latest.values():
        address = value.get("metrics")
        if not address or value.get("stopped"):
            continue
        groups[str(value.get("pipeline")), str(value.get("stage"))].append(str(address))
    return [
        {"targets": sorted(targets), "labels": {"pipeline": pipeline, "stage": stage}}
        for (pipeline, stage), targets in sorted(groups.items())
    ]


@app.command()
def targets(
    out: Annotated[
        Path,
        typer.Option(envvar="STREAMWORKS_METRICS_TARGETS", help="The file_sd JSON to write."),
    ] = _DEFAULT,
    bootstrap: Bootstrap = None,
) -> None:
    """Write the live workers' /metrics addresses as a Prometheus file_sd list."""
    point_at(bootstrap)
    groups = file_sd_groups(asyncio.run(read_latest(Settings())))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".tmp")
    partial.write_text(json.dumps(groups, indent=2) + "\n", encoding="utf-8")
    partial.replace(out)  # Prometheus never reads a half-written file
    workers = sum(len(g["targets"]) for g in groups)
    console.print(f"{workers} worker(s) in {len(groups)} stage(s) written to {out}")
