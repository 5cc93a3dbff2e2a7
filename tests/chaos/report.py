"""Turns the chaos results (tests/chaos/results/*.json) into the table of docs/reliability.md.

``python -m tests.chaos.report`` rewrites the part of the document between the two
markers below and leaves the prose around it alone; ``make chaos`` runs it after the suite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.chaos.harness import RESULTS

__all__ = ["main", "table"]

DOC = Path(__file__).resolve().parents[2] / "docs/reliability.md"
BEGIN = "<!-- chaos results: written by python -m tests.chaos.report -->"
END = "<!-- end of chaos results -->"
COLUMNS = (
    ("scenario", "scenario"),
    ("guarantee", "guarantee"),
    ("events_in", "in"),
    ("events_out", "out"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("order_violations", "order violations"),
    ("wrong_aggregates", "wrong aggregates"),
    ("duplicated_aggregates", "repeated aggregates"),
    ("hanging_transactions", "hanging transactions"),
    ("detail", "recovery / detail"),
)


def _cell(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _order(row: dict[str, Any]) -> tuple[bool, str, str, str]:
    """Numbered scenarios first, by number (10 after 9), then lettered ones (issue 21's
    a-e), then by name and guarantee."""
    label, _, name = str(row["scenario"]).partition(". ")
    return not label.isdigit(), label.zfill(4), name, str(row.get("guarantee"))


def table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table, one row per result file, in scenario order."""
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|"
        + "|".join(
            "---" if key in ("scenario", "guarantee", "detail") else "---:" for key, _ in COLUMNS
        )
        + "|",
    ]
    rows = [
        {**figures, "scenario": figures.get("scenario", name)} for name, figures in results.items()
    ]
    for row in sorted(rows, key=_order):
        lines.append("| " + " | ".join(_cell(row.get(key)) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    results = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{table(results)}\n{END}{tail}")
    print(f"{DOC}: {len(results)} scenario(s)")


if __name__ == "__main__":
    main()
