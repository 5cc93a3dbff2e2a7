"""Where a streamworks stage's CPU goes, per record and by step, beside the aiokafka loop.

Run with ``python -m tests.benchmarks.stage_profile`` (``make profile``; ``make bench`` runs
it too). Each contender of the stage benchmark's plain workload is sampled by py-spy twice:
at full speed (EVENTS pre-loaded records, SAMPLE_S seconds once processing is under way, so
start-up is left out) and at the moderate load of the latency benchmark (LATENCY_RATE
records/s). Every sample is sorted into the step of the record's path it was taken in, and
each step's share of the samples times the run's CPU per record gives microseconds per
record, by step. The tables land in ``results/stage_profile.md`` (and ``.json``).

A sample belongs to the innermost frame on its stack that one of ``_STEPS`` claims: the
decode of a record inside the processor is *decode*, the processor's own lines around it
are *bookkeeping*. aiokafka's record-batch code serves both the consumer and the producer,
so it is claimed by whichever of the two called it.

py-spy is meant to leave out threads that wait, but on this machine it samples them too (a
thread blocked in a lock, in librdkafka's poll or in uvloop's wait for I/O shows as busy in
the frame that called it). So a sample whose innermost frame is a known wait (``_WAITING``)
is left out before the shares are taken: at 2,000 records/s the loop waits most of the
time, and counting it made "event loop" the largest step of a mostly idle process.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamworks.kafka.rd_consumer import RdConsumer
from streamworks.testing.helpers import unique_name
from tests.benchmarks._contenders import FIRST_RECORD
from tests.benchmarks._report import broker_and_registry, machine, write
from tests.benchmarks.stage import (
    LATENCY_RATE,
    LATENCY_SECONDS,
    PARTITIONS,
    _create,
    _latency_round,
    _options,
    _preload,
)

EVENTS = int(os.environ.get("STREAMWORKS_PROFILE_EVENTS", "300000"))
RATE_HZ = 1000
WARM_S = 1.0
"""Sampling starts this long after the first record..."""
SAMPLE_S = 6
"""...and lasts this long (or until the run ends): the steady part of the run."""
CONTENDERS = tuple(
    os.environ.get("STREAMWORKS_PROFILE_CONTENDERS", "streamworks,aiokafka").split(",")
)
PARTS = os.environ.get("STREAMWORKS_PROFILE_PARTS", "full,moderate").split(",")
"""For quick looks while developing: ``full``, ``moderate`` or both."""

_STEPS: tuple[tuple[str, str], ...] = (
    # (step, regular expression over one frame, "Class.function (file:line)"); the innermost
    # frame that one claims decides, the first pattern matching that frame names the step
    ("user function", r"\(tests/benchmarks/_stage_work\.py"),
    ("harness (the meter)", r"^Meter\.|<locals>\.stage \(tests/benchmarks/_contenders"),
    ("typed record from dict", r"\bfrom_avro \("),
    ("typed record to dict", r"\bto_avro \("),
    (
        "decode (Avro, framing)",
        r"^AvroDecoder\.decode \(|^read \(<avro read>|^(_read_long|_read_bytes|_symbol) \(",
    ),
    (
        "encode (Avro, framing)",
        r"^AvroEncoder\.encode \(|^write \(<avro write>|^(_varint|_zigzag_slow|_symbol_index) \(",
    ),
    ("lineage headers", r"^(LineageWriter\.header|StageProcessor\._headers) \("),
    ("crash-loop markers", r"\(streamworks/runtime/(crashloop|crash_ledger|crash_marker)\.py"),
    ("schema-id check", r"^schemas_ready\b"),
    (
        "fetch",
        r"^GroupMember\.fetch\b|^(to_messages|_as_messages)\b|\(aiokafka/consumer/fetcher\.py"
        r"|^RdConsumer\.(getmany|_gather|_fetch) \(",
    ),
    (
        "produce",
        r"\((streamworks/kafka/(sending|clients|_murmur2)\.py|aiokafka/producer/)"
        r"|^AtLeastOnce\.send \(|^(RdSender|_Pending)\.",
    ),
    (
        "commit and group",
        r"^(AtLeastOnce\.(settle|handed)|GroupMember\.commit|RdConsumer\.commit) \("
        r"|\(aiokafka/consumer/group_coordinator\.py",
    ),
    ("aiokafka consumer, other", r"\(aiokafka/consumer/"),
    ("metrics and stats", r"\(streamworks/runtime/(metrics|stats)\.py|\(prometheus_client/"),
    ("bookkeeping", r"\(streamworks/"),
    ("network (aiokafka connections)", r"\(aiokafka/"),
)
_NO_FRAME = "event loop (no Python frame)"
_ORDER = [step for step, _ in _STEPS] + ["event loop and other", _NO_FRAME]
_WAITS = "waiting"
"""Samples of a thread waiting: left out of the budget (see the module's docs)."""


def _poll_line() -> int:
    """The line of :meth:`RdConsumer._fetch` where the owner thread waits in librdkafka."""
    lines, first = inspect.getsourcelines(RdConsumer._fetch)
    return first + next(n for n, line in enumerate(lines) if "consumer.poll(" in line)


_WAITING = re.compile(
    # uvloop waiting for I/O (or running its own C code between Python callbacks)
    r"^Runner\.run \(asyncio/runners\.py"
    # a thread pool's idle thread, a thread blocked on a lock, event or condition
    r"|^_worker \(concurrent/futures/thread\.py|^(Condition|Event)\.wait \(threading\.py"
    # librdkafka's consumer waiting for records (the C call releases the interpreter)
    rf"|^RdConsumer\._fetch \(streamworks/kafka/rd_consumer\.py:{_poll_line()}\)"
)


def classify(stack: str) -> str:
    """The step a collapsed stack (root first, ``;``-separated frames) belongs to."""
    if not stack:
        return _NO_FRAME  # uvloop's own C code running, between Python callbacks
    frames = stack.split(";")
    if _WAITING.search(frames[-1]):
        return _WAITS
    for frame in reversed(frames):
        for step, pattern in _COMPILED:
            if pattern.search(frame):
                return step
    return "event loop and other"


_COMPILED = [(step, re.compile(pattern)) for step, pattern in _STEPS]


def _samples(raw: Path) -> Counter[str]:
    """py-spy's raw output (a collapsed stack and its count per line), counted by step."""
    samples: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples[classify(stack)] += int(count)
    return samples


def budget(samples: Counter[str], cpu_us_per_event: float) -> dict[str, dict[str, float]]:
    """Per step: share of the samples and microseconds per record (waits left out)."""
    total = sum(count for step, count in samples.items() if step != _WAITS)
    return {
        step: {
            "share": round(samples[step] / total, 4),
            "us_per_record": round(samples[step] / total * cpu_us_per_event, 2),
        }
        for step in _ORDER
        if samples[step]
    }


def profile(
    bootstrap: str, registry: str, name: str, scratch: Path
) -> tuple[dict[str, Any], Counter[str]]:
    """Run contender ``name`` and sample it once it is processing: (figures, samples by
    step). The samples leave out start-up (imports, joining the group)."""
    source, output = unique_name("profile-in"), unique_name("profile-out")
    asyncio.run(_create(bootstrap, source, output, partitions=PARTITIONS))
    asyncio.run(_preload(bootstrap, registry, "plain", source, EVENTS))
    options = _options(
        name, "plain", source, output, bootstrap=bootstrap, registry=registry, count=str(EVENTS)
    )
    command = [sys.executable, "-m", "tests.benchmarks._contenders", name]
    for option, value in options.items():
        command += [f"--{option}", value]
    contender = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert contender.stdout is not None and contender.stderr is not None
    errors: list[str] = []
    for line in contender.stderr:
        errors.append(line)
        if line.strip() == FIRST_RECORD:
            break
    drain = threading.Thread(target=lambda: errors.extend(contender.stderr or ()), daemon=True)
    drain.start()
    raw = scratch / f"{name}.txt"
    time.sleep(WARM_S)
    _ended(_spy(contender.pid, raw, SAMPLE_S))
    out, _ = contender.communicate(timeout=900)
    drain.join(timeout=5)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if contender.returncode != 0 or not lines or not raw.exists():
        tail = "".join(errors)[-3000:]
        raise RuntimeError(f"the profiled run of {name} failed ({contender.returncode}):\n{tail}")
    samples = _samples(raw)
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures, samples


def _spy(pid: int, raw: Path, seconds: float) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--nonblocking",
            "--rate",
            str(RATE_HZ),
            "--format",
            "raw",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profile_moderate(
    bootstrap: str, registry: str, name: str, scratch: Path
) -> tuple[float, Counter[str]]:
    """Contender ``name`` sampled through a LATENCY_RATE run: (CPU µs per event, samples)."""
    raw = scratch / f"{name}-moderate.txt"

    def attach(pid: int) -> Callable[[], None]:
        sampler = _spy(pid, raw, LATENCY_SECONDS)
        return lambda: _ended(sampler)

    _, percent, _ = _latency_round(bootstrap, registry, name, 10**9, on_load=attach)
    samples = _samples(raw)
    return percent / 100 / LATENCY_RATE * 1e6, samples


def _ended(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def _table(runs: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    return [
        "| step | " + " | ".join(f"{name} µs / record" for name in runs) + " |",
        "|---|" + "---:|" * len(runs),
        *(
            f"| {step} | "
            + " | ".join(
                f"{steps[step]['us_per_record']:.1f}" if step in steps else "-"
                for steps in runs.values()
            )
            + " |"
            for step in _ORDER
            if any(step in steps for steps in runs.values())
        ),
        "| **all** | "
        + " | ".join(
            f"**{sum(f['us_per_record'] for f in steps.values()):.1f}**" for steps in runs.values()
        )
        + " |",
    ]


def main() -> int:
    kept = os.environ.get("STREAMWORKS_PROFILE_STACKS")  # a folder to keep the raw stacks in
    full: dict[str, dict[str, dict[str, float]]] = {}
    figures: dict[str, dict[str, Any]] = {}
    moderate: dict[str, dict[str, dict[str, float]]] = {}
    with broker_and_registry() as (bootstrap, registry), tempfile.TemporaryDirectory() as scratch:
        folder = Path(kept or scratch)
        for name in CONTENDERS if "full" in PARTS else ():
            figures[name], samples = profile(bootstrap, registry, name, folder)
            full[name] = budget(samples, figures[name]["steady_cpu_us_per_event"])
        for name in CONTENDERS if "moderate" in PARTS else ():
            cost, samples = profile_moderate(bootstrap, registry, name, folder)
            moderate[name] = budget(samples, cost)
    rates = ", ".join(f"{name} {f['steady_events_per_s']:,}/s" for name, f in figures.items())
    lines = [
        f"CPU per record by step, plain workload on {PARTITIONS} partitions, sampled by py-spy "
        f"at {RATE_HZ} Hz; samples of threads waiting (for I/O, a lock or librdkafka's "
        "poll) are left out. For the aiokafka loop, *user function* is its whole transform "
        "(fastavro decode, change, encode).",
        "",
        f"**At full speed** ({EVENTS:,} records, {SAMPLE_S} s sampled once processing; steady "
        f"rates while sampled: {rates}):",
        "",
        *_table(full),
        "",
        f"**At {LATENCY_RATE:,} records/s** ({LATENCY_SECONDS} s sampled; the process's CPU "
        "over the load divided by the records):",
        "",
        *_table(moderate),
    ]
    table = "\n".join(lines)
    data = {
        "machine": machine(),
        "events": EVENTS,
        "full_speed": {name: {"figures": figures[name], "steps": full[name]} for name in full},
        "moderate": {"rate": LATENCY_RATE, "steps": moderate},
    }
    path = write("stage_profile", data, table)
    sys.stdout.write(table + f"\n\nwritten to {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
