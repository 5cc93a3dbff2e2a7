"""The demo's closing tables: per-stage counts, the metrics, and the rows in PostgreSQL."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ops.demo.services import REVENUE_TABLE, Rows
from streams.orders.observe import RoutedOrders
from streamworks import Pipeline
from streamworks.runtime.processor import Counts

__all__ = ["Revenue", "print_metrics", "print_rows", "print_stage_counts", "print_summary"]

Revenue = dict[tuple[str, str, int], tuple[int, int]]
"""(region, currency, window start ms) -> (revenue cents, orders)."""
_LATE_ALLOWED = 0.01
"""More late orders than this fraction of the enriched ones fails the demo."""


def print_stage_counts(
    console: Console, title: str, pipeline: Pipeline, counts: dict[str, Counts]
) -> None:
    """Per stage: in, out (records written), filtered, dead-lettered, late, and whether
    every input is accounted for (in = folded or produced + filtered + dead-lettered +
    late)."""
    table = Table(title=title)
    columns = ("stage", "in", "out", "filtered", "dead-lettered", "late", "balanced")
    for column in columns:
        table.add_column(column, justify="right")
    for name in pipeline.stages:
        c = counts.get(name)
        if c is None:
            table.add_row(name, *["-"] * (len(columns) - 1))
            continue
        table.add_row(
            name,
            f"{c.records_in:,}",
            f"{c.records_written:,}",
            f"{c.filtered:,}",
            f"{c.dead_lettered:,}",
            f"{c.late:,}",
            "[green]yes[/]" if c.balanced() else "[red]no[/]",
        )
    console.print(table)


def print_metrics(
    console: Console, routed: RoutedOrders, *, window_s: float, grace_s: float
) -> None:
    """Revenue per region (summed over its closed windows) and the top customers."""
    regions = Table(
        title=f"revenue per region: {len(routed.windows):,} closed {window_s:g}-second windows"
    )
    for column in ("region", "currency", "windows", "orders", "revenue"):
        regions.add_column(column, justify="right")
    summary: dict[tuple[str, str], list[int]] = {}
    for (region, currency, _), window in sorted(routed.windows.items()):
        row = summary.setdefault((region, currency), [0, 0, 0])
        row[0] += 1
        row[1] += window.order_count
        row[2] += window.revenue_cents
    for (region, currency), (windows, count, cents) in sorted(summary.items()):
        regions.add_row(region, currency, f"{windows:,}", f"{count:,}", f"{cents / 100:,.2f}")
    console.print(regions)
    top = sorted(routed.totals.values(), key=lambda t: -t.revenue_cents)[:5]
    customers = Table(title=f"top customers of {len(routed.totals):,} (running totals)")
    for column in ("customer", "orders", "revenue (mixed currencies)", "last order"):
        customers.add_column(column, justify="right")
    for t in top:
        customers.add_row(
            t.customer_id,
            f"{t.order_count:,}",
            f"{t.revenue_cents / 100:,.2f}",
            f"{t.last_order_at:%H:%M:%S}",
        )
    console.print(customers)
    still_open = routed.enriched - routed.windowed_orders - routed.late
    console.print(
        f"enriched {routed.enriched:,} = in closed windows {routed.windowed_orders:,} "
        f"+ late {routed.late:,} + in windows still open {still_open:,} (a window closes "
        f"once order time has passed its end plus {grace_s:g} s of grace)"
    )
    console.print(
        f"order checks (stock, fraud, shipping in parallel): released {routed.released:,} · "
        f"held {routed.decided - routed.released - routed.partial:,} · "
        f"decided at the deadline with checks missing {routed.partial:,}"
    )


def print_rows(
    console: Console, routed: RoutedOrders, rows: Rows, *, truth: Revenue, stored: Revenue
) -> None:
    """What PostgreSQL holds, next to what the topics said and a recomputation."""
    table = Table(title="PostgreSQL (written by the postgres sink connectors)")
    for column in ("table", "rows", "expected from the topics", "total", "matches"):
        table.add_column(column, justify="right")
    cents = sum(w.revenue_cents for w in routed.windows.values())
    for name, found, expected, total in (
        ("orders", rows.orders, routed.enriched, f"{rows.order_cents / 100:,.2f}"),
        (
            REVENUE_TABLE,
            rows.windows,
            len(routed.windows),
            f"{rows.window_cents / 100:,.2f}",
        ),
    ):
        ok = found == expected and (name == "orders" or rows.window_cents == cents)
        table.add_row(
            name, f"{found:,}", f"{expected:,}", total, "[green]yes[/]" if ok else "[red]no[/]"
        )
    console.print(table)
    same = "[green]yes[/]" if stored == truth else "[red]no[/]"
    console.print(
        f"{REVENUE_TABLE} equals the revenue recomputed from every enriched order not found "
        f"late ({len(truth):,} windows): {same}"
    )


def print_summary(
    console: Console,
    title: str,
    *,
    pipeline: Pipeline,
    counts: dict[str, Counts],
    routed: RoutedOrders,
    rows: Rows,
    sent: int,
    window_s: float,
    grace_s: float,
    stored: Revenue,
) -> list[str]:
    """Every closing table; returns what does not add up (empty when all is well).

    Besides lost, doubled and unbalanced counts, a demo fails when more than 1% of the
    enriched orders were late for their revenue window, when a window is still open at
    the end, or when the revenue table differs from a recomputation from the orders.
    """
    truth = routed.revenue_truth(window_s)
    print_stage_counts(console, title, pipeline, counts)
    print_metrics(console, routed, window_s=window_s, grace_s=grace_s)
    print_rows(console, routed, rows, truth=truth, stored=stored)
    duplicated = sum(routed.ids.values()) - len(routed.ids)
    lost = sent - len(routed.ids)
    console.print(
        f"valid {routed.valid:,} · invalid {routed.invalid:,} · "
        f"lost {lost:,} · duplicated {duplicated:,}"
    )
    problems = [f"stage {name} is not balanced" for name, c in counts.items() if not c.balanced()]
    if lost:
        problems.append(f"{lost:,} orders lost")
    if duplicated:
        problems.append(f"{duplicated:,} orders duplicated")
    if rows.orders != routed.enriched:
        problems.append(f"{rows.orders:,} order rows for {routed.enriched:,} enriched orders")
    if routed.late > _LATE_ALLOWED * routed.enriched:
        problems.append(f"{routed.late:,} of {routed.enriched:,} enriched orders were late")
    still_open = routed.enriched - routed.windowed_orders - routed.late
    if still_open:
        problems.append(f"{still_open:,} orders are in revenue windows still open")
    if stored != truth:
        problems.append(f"{REVENUE_TABLE} differs from the revenue recomputed from the orders")
    return problems
