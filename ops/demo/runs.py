"""``ops/demo-runs N [--busy]``: the demo N times in a row, and what each run's windows did.

Each run is ``streamworks demo`` as ``make demo`` starts it, its output kept under
``.cache/logs/demo-runs/``. The report gives per run its exit code, the enriched orders,
those late for their revenue window, those in windows still open at the end, and whether
the revenue table equals the recomputation from the orders. ``--busy`` keeps every core
busy with a spinning process for the whole series, to show the result does not depend on
how the machine schedules the workers; ``--cold`` stops the local broker and deletes its
data before each run, so every run starts it, as a first ``make demo`` does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["main"]

_ROOT = Path(__file__).resolve().parents[2]
_SETTLED = re.compile(
    r"enriched ([\d,]+) = in closed windows ([\d,]+) \+ late ([\d,]+) "
    r"\+ in windows still open ([\d,]+)"
)
_RECOMPUTED = re.compile(r"equals the revenue recomputed .*: (yes|no)")


@dataclass(frozen=True)
class Run:
    """What one demo run reported."""

    number: int
    exit_code: int
    seconds: float
    enriched: int | None
    late: int | None
    still_open: int | None
    recomputed: str

    def row(self) -> str:
        """The run as a markdown table row."""
        if self.enriched is None or self.late is None:
            return f"| {self.number} | {self.exit_code} | - | - | - | - | - | {self.seconds:.0f} |"
        share = 100 * self.late / self.enriched if self.enriched else 0.0
        return (
            f"| {self.number} | {self.exit_code} | {self.enriched:,} | {self.late:,} | "
            f"{share:.2f}% | {self.still_open:,} | {self.recomputed} | {self.seconds:.0f} |"
        )


def _spin() -> None:
    while True:
        pass


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _cli(*args: str) -> list[str]:
    return [str(_ROOT / ".venv" / "bin" / "streamworks"), *args]


def _run(number: int, logs: Path, *, cold: bool) -> Run:
    log = logs / f"run-{number}.log"
    if cold:
        subprocess.run(  # noqa: S603 - our own CLI, no outside input
            _cli("kafka", "down", "--purge"), cwd=_ROOT, check=True, stdout=subprocess.DEVNULL
        )
    began = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.call(  # noqa: S603 - our own CLI, no outside input
            _cli("demo"),
            cwd=_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    seconds = time.monotonic() - began
    text = log.read_text(encoding="utf-8")
    settled = _SETTLED.search(text)
    recomputed = _RECOMPUTED.search(text)
    numbers = [_number(g) for g in settled.groups()] if settled else [None] * 4
    return Run(
        number=number,
        exit_code=code,
        seconds=seconds,
        enriched=numbers[0],
        late=numbers[2],
        still_open=numbers[3],
        recomputed=recomputed.group(1) if recomputed else "-",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the series; print the report; exit 1 unless every run passed."""
    parser = argparse.ArgumentParser(prog="ops/demo-runs", description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=int, nargs="?", default=10, help="how many runs")
    parser.add_argument("--busy", action="store_true", help="keep every core busy meanwhile")
    parser.add_argument("--cold", action="store_true", help="a fresh local broker every run")
    args = parser.parse_args(argv)
    logs = _ROOT / ".cache" / "logs" / "demo-runs"
    logs.mkdir(parents=True, exist_ok=True)
    spinners = []
    if args.busy:
        for _ in range(os.cpu_count() or 1):
            spinner = multiprocessing.Process(target=_spin, daemon=True)
            spinner.start()
            spinners.append(spinner)
    runs = []
    try:
        for number in range(1, args.runs + 1):
            run = _run(number, logs, cold=args.cold)
            runs.append(run)
            print(f"run {number}: exit {run.exit_code}, late {run.late}", file=sys.stderr)
    finally:
        for spinner in spinners:
            spinner.terminate()
    options = "".join(f" --{o}" for o in ("busy", "cold") if getattr(args, o))
    busy = f", with {len(spinners)} spinning processes" if spinners else ""
    print(f"`ops/demo-runs {args.runs}{options}`{busy} (logs in {logs})")
    print()
    print("| run | exit | enriched | late | late % | still open | table = recomputed | s |")
    print("|---:|---:|---:|---:|---:|---:|:---:|---:|")
    for run in runs:
        print(run.row())
    return 0 if all(run.exit_code == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
