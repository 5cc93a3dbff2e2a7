"""A pipeline's status as a rich table, the bottleneck row highlighted.

``out`` is the records a stage wrote (an aggregation: its results), so it need not equal
the inputs that were neither filtered, dead-lettered nor late; ``late`` is ``-`` for a
stage that is not an aggregation (it has no windows). ``--json`` has the input-side
figure (``produced`` or ``folded``) that balances ``in``. A stage one of whose topics is
missing from the cluster says so under its name, in red (``missing: orders.raw``).
"""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from rich.text import Text

from streamworks.ops.status.model import PipelineStatus, StageStatus
from streamworks.ops.tables import folded

__all__ = ["status_table"]

_COLUMNS = (
    "workers",
    "parts",
    "lag",
    "lag s",
    "in/s",
    "out/s",
    "in",
    "out",
    "filtered",
    "dlq",
    "late",
)
_TRENDS = {"growing": " ↑", "shrinking": " ↓", "steady": " ="}


def _row(stage: StageStatus) -> list[Text]:
    name = Text(f"{stage.name} ◀" if stage.bottleneck else stage.name)
    if stage.missing_topics:
        name.append(f"\nmissing: {', '.join(stage.missing_topics)}", style="bold red")
    return [
        name,
        Text(str(stage.workers), style="" if stage.workers else "yellow"),
        Text(str(stage.partitions)),
        Text(f"{stage.lag_records:,}{_TRENDS.get(stage.trend or '', '')}"),
        Text(f"{stage.lag_seconds:.1f}"),
        Text(f"{stage.in_per_s:,.0f}"),
        Text(f"{stage.out_per_s:,.0f}"),
        Text(f"{stage.records_in:,}"),
        Text(f"{stage.out:,}"),
        Text(f"{stage.filtered:,}"),
        Text(f"{stage.dead_lettered:,}", style="red" if stage.dead_lettered else ""),
        Text("-" if stage.late is None else f"{stage.late:,}"),
    ]


def status_table(status: PipelineStatus) -> Table:
    """One row per stage; the bottleneck's row bold red, marked ◀; lag trend as ↑ ↓ =."""
    when = datetime.fromtimestamp(status.at).strftime("%H:%M:%S")  # local time: an operator's
    verdict = f"bottleneck: {status.bottleneck}" if status.bottleneck else "no stage lags"
    table = Table(title=f"{status.pipeline} at {when}: {verdict}")
    # no minimum widths: on a narrow terminal rich would then crop the table's right side;
    # folded, every name and figure stays whole
    table.add_column("stage")
    for header in _COLUMNS:
        table.add_column(header, justify="right")
    for stage in status.stages:
        table.add_row(*_row(stage), style="bold red" if stage.bottleneck else None)
    return folded(table)
