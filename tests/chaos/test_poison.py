"""Scenario 6: poison and fuzz. 201 bad records of 23 kinds among 5,000 good orders, with a
registry outage in the middle, under exactly-once.

The bad records (``poison_corpus``) are interleaved with the good ones on ``<name>.in``;
the ``tag`` stage must dead-letter each of them once, with a reason that names what is
wrong, and pass every good order on, with no worker exiting and no memory growing. Half
way through, the registry the workers see answers 503 and then refuses connections for
some seconds while good orders written with a schema version the workers have not seen
yet arrive: those must wait for the registry and come out after it is back, never in the
dead-letter topic. Records over the broker's size limit never reach the topic at all: the
producer that tries gets a clear error.

Four platform bugs this scenario found are fixed, and each keeps a test here: ``tag``
workers exited on the outage (a retriable registry error escaped the stage); a value
nested 100,000 deep killed the worker with SIGSEGV (fastavro's compiled reader recursed
on the C stack); a bad record just under the size limit could not be dead-lettered (its
dead-letter headers pushed it over); an aggregation dead-lettered records during an
outage. The last three have their own tests, since the first two would stop a partition
for good and the third is in-process.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TypeAlias

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import MessageSizeTooLargeError

from schemas.records import EnrichedOrder
from streamworks.aggregate.processor import AggregationProcessor
from streamworks.core.messages import InMessage
from streamworks.kafka import clients
from streamworks.kafka.sending import BatchSender, acknowledged
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.runtime.processor import Counts, StageProcessor
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import RegistryUnavailableError
from streamworks.schemas.memory_registry import InMemoryRegistry
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.state.store import Store
from streamworks.testing import KafkaEndpoint
from tests.chaos.app import chaos_pipeline
from tests.chaos.checker import Figures, check, drain
from tests.chaos.harness import (
    Chaos,
    caught_up,
    chaos_copy,
    committed,
    end_offsets,
    orders,
    record,
    running,
    started,
)
from tests.chaos.poison_corpus import (
    BROKER_LIMIT,
    CLIENT_LIMIT,
    KIND_HEADER,
    Mode,
    Poison,
    RegistryProxy,
    SchemaIds,
    at_size_limit,
    corpus,
    deeply_nested_outcome,
    evolved_encoder,
    register_schemas,
    rss_mb,
)

ORDERS = 5_000
WARM_UP = 1_000
"""Good orders before the first bad one: the workers' memory is measured after them."""
DURING_OUTAGE = range(2_800, 3_200)
"""Good orders sent while the registry is down; the odd ones in the new schema version."""
OUTAGE: tuple[tuple[Mode, float], ...] = (("503", 3.0), ("refused", 3.0))
"""The registry outage: seconds of 503 answers, then of refused connections."""
HELD = 3
"""Records with an unregistered schema id sent during the outage."""
RATE = 800
"""Records per second fed to ``<name>.in``."""
POOLS = {"tag": 2, "totals": 1}
INPUTS = {"tag": "in", "totals": "tagged"}
RSS_GROWTH_MB = 100
REGISTRY_CRASH = "error: schema registry"
"""The line a worker's log ends with when a registry error escaped and the process exited."""
Consumed: TypeAlias = "ConsumerRecord[bytes, bytes]"


@dataclass(frozen=True)
class Input:
    """One record for ``<name>.in``: a good order (either schema version) or a poison."""

    key: bytes
    value: bytes | None
    poison: Poison | None = None

    @property
    def headers(self) -> list[tuple[str, bytes]] | None:
        return self.poison.headers if self.poison is not None else None


@dataclass(frozen=True)
class Plan:
    """What is sent, in four parts: warm-up, before, during and after the outage."""

    good: list[EnrichedOrder]
    poison: list[Poison]
    held: list[Poison]
    """The poison sent during the outage."""
    parts: tuple[list[Input], list[Input], list[Input], list[Input]]


@dataclass
class Run:
    """What happened to the workers while the plan was sent."""

    outage_began_ms: int = 0
    outage_ended_ms: int = 0
    answered_503: int = 0
    rss_before: dict[int, float] = field(default_factory=dict)
    rss_after: dict[int, float] = field(default_factory=dict)
    restarts: int = 0
    registry_crashes: int = 0
    same_workers: bool = False

    @property
    def outage_s(self) -> float:
        return (self.outage_ended_ms - self.outage_began_ms) / 1000

    @property
    def rss_growth_mb(self) -> float:
        after = self.rss_after
        return max((after[p] - mb for p, mb in self.rss_before.items() if p in after), default=0.0)


@dataclass(frozen=True)
class Letters:
    """The ``tag`` dead letters, matched to the poison they came from."""

    by_ident: dict[str, Consumed]
    unmarked: int
    """Dead letters that are not poison: good records that were dead-lettered."""
    repeated: int
    totals: int
    """Dead letters of ``totals`` (there should be none)."""
    tagged: list[Consumed]


def _plan(ids: SchemaIds, registry: RegistryClient, name: str) -> Plan:
    """The good orders (the odd ones of the outage in schema version 2) and the poison,
    interleaved at random places; three unregistered-id records come during the outage."""
    v1 = RecordCodec(EnrichedOrder, AvroCodec(registry), subject=f"{name}.in-value")
    v2 = evolved_encoder(registry, name)
    good = orders(ORDERS)
    inputs = [
        Input(o.customer_id.encode(), (v2 if n in DURING_OUTAGE and n % 2 else v1.encode)(o))
        for n, o in enumerate(good)
    ]
    poison = corpus(ids, registry, name)
    held = [p for p in poison if p.kind == "schema-id-unregistered"][:HELD]
    rest = [p for p in poison if p not in held]
    half = len(rest) // 2
    start, stop = DURING_OUTAGE.start, DURING_OUTAGE.stop
    parts = (
        inputs[:WARM_UP],
        _mix(inputs[WARM_UP:start], rest[:half], seed=6),
        _mix(inputs[start:stop], held, seed=7),
        _mix(inputs[stop:], rest[half:], seed=8),
    )
    return Plan(good, poison, held, parts)


def _mix(good: list[Input], bad: list[Poison], seed: int) -> list[Input]:
    """``bad`` spread at random places among ``good``, which keep their order."""
    mixed = list(good)
    places = sorted(random.Random(seed).choices(range(len(good) + 1), k=len(bad)), reverse=True)
    for place, poison in zip(places, bad, strict=True):
        mixed.insert(place, Input(poison.key, poison.value, poison))
    return mixed


async def _feed(chaos: Chaos, inputs: list[Input]) -> None:
    """Send ``inputs`` in order at ``RATE`` per second; return once all are acknowledged."""
    producer = clients.producer(chaos.settings)
    await producer.start()
    try:
        per_tick, tick_s = RATE // 10, 0.1
        began = time.monotonic()
        for tick, start in enumerate(range(0, len(inputs), per_tick)):
            futures = [
                await producer.send(f"{chaos.name}.in", i.value, key=i.key, headers=i.headers)
                for i in inputs[start : start + per_tick]
            ]
            await asyncio.gather(*futures)
            await asyncio.sleep(max(0.0, began + (tick + 1) * tick_s - time.monotonic()))
    finally:
        await producer.stop()


async def _over_limit_refused(chaos: Chaos) -> list[str]:
    """Try to produce records over the size limits; return the errors the producers got.

    The platform's producer refuses a record over ``max_request_size`` before sending it;
    one configured to allow more sends it, and the broker refuses the batch.
    """
    attempts: tuple[tuple[dict[str, int], int], ...] = (
        ({}, CLIENT_LIMIT + 1),
        ({"max_request_size": 4 * CLIENT_LIMIT}, BROKER_LIMIT + 1),
        ({"max_request_size": 4 * CLIENT_LIMIT}, 2 * CLIENT_LIMIT),
    )
    errors = []
    for overrides, size in attempts:
        producer = clients.producer(chaos.settings, **overrides)
        await producer.start()
        try:
            with pytest.raises(MessageSizeTooLargeError) as refused:
                await (await producer.send(f"{chaos.name}.in", bytes(size), key=b"c000"))
            errors.append(f"{size:,} bytes: {refused.value}")
        finally:
            await producer.stop()
    return errors


async def _all_processed(chaos: Chaos, supervisor: Supervisor, within_s: float) -> None:
    """Wait until ``tag`` committed every offset of ``<name>.in`` (the feed is not
    transactional, so there is no marker to allow for), then until ``totals`` caught up."""
    deadline = time.monotonic() + within_s
    while True:
        supervisor.poll()
        done = await committed(chaos.settings, chaos.group("tag"))
        ends = await end_offsets(chaos.settings, f"{chaos.name}.in", chaos.partitions)
        lag = sum(end - done.get(tp, 0) for tp, end in ends.items())
        if lag == 0:
            break
        assert time.monotonic() < deadline, f"tag not caught up in {within_s:.0f} s: lag {lag}"
        await asyncio.sleep(0.25)
    await caught_up(chaos, supervisor, INPUTS, within_s=max(1.0, deadline - time.monotonic()))


async def _outage(proxy: RegistryProxy, chaos: Chaos, inputs: list[Input], run: Run) -> None:
    """Take the registry away, feed ``inputs`` meanwhile, and bring it back."""
    run.outage_began_ms = round(time.time() * 1000)
    began = time.monotonic()
    feeding = asyncio.create_task(_feed(chaos, inputs))
    until = began
    for mode, seconds in OUTAGE:
        proxy.set_mode(mode)
        until += seconds
        await asyncio.sleep(max(0.0, until - time.monotonic()))  # the fault's length
    await feeding
    proxy.set_mode("up")
    run.outage_ended_ms = round(time.time() * 1000)
    run.answered_503 = proxy.refused_requests


def _rss(supervisor: Supervisor) -> dict[int, float]:
    return {w.process.pid: rss_mb(w.process.pid) for w in supervisor.workers()}


async def _run(chaos: Chaos, proxy: RegistryProxy, plan: Plan) -> Run:
    """Run the workers while the plan is sent; measure their memory around the poison."""
    warm_up, before, during, after = plan.parts
    supervisor = chaos.supervisor(POOLS)
    run = Run()
    with running(supervisor):
        await started(supervisor, chaos.logs)
        pids = {w.process.pid for w in supervisor.workers()}
        await _feed(chaos, warm_up)
        await _all_processed(chaos, supervisor, within_s=60)
        run.rss_before = _rss(supervisor)
        await _feed(chaos, before)
        await _outage(proxy, chaos, during, run)
        await _feed(chaos, after)
        await _all_processed(chaos, supervisor, within_s=120)
        run.rss_after = _rss(supervisor)
        supervisor.poll()
        run.restarts = supervisor.restarts
        run.same_workers = {w.process.pid for w in supervisor.workers()} == pids
    logs = [p.read_text(errors="replace") for p in chaos.logs.glob("tag-*.log")]
    run.registry_crashes = sum(REGISTRY_CRASH in text for text in logs)
    return run


async def _letters(kafka: KafkaEndpoint, chaos: Chaos) -> Letters:
    """Read the dead-letter topics and the output; match dead letters to their poison."""
    pipeline = chaos_pipeline(chaos.name, partitions=chaos.partitions)
    dlq, totals_dlq = pipeline.dead_letter_topic("tag"), pipeline.dead_letter_topic("totals")
    tagged = f"{chaos.name}.tagged"
    read = await drain(kafka.bootstrap_servers, [dlq, totals_dlq, tagged])
    by_ident: dict[str, Consumed] = {}
    unmarked = repeated = 0
    for letter in read[dlq]:
        ident = header(tuple(letter.headers), KIND_HEADER)
        if ident is None:
            unmarked += 1
        elif ident in by_ident:
            repeated += 1
        else:
            by_ident[ident] = letter
    return Letters(by_ident, unmarked, repeated, len(read[totals_dlq]), read[tagged])


def _unexplained(poison: Poison, letter: Consumed, name: str) -> list[str]:
    """What is wrong with ``letter`` as the dead letter of ``poison`` (nothing, ideally)."""
    headers = tuple(letter.headers)
    error = header(headers, DLQ_PREFIX + "error.class")
    message = header(headers, DLQ_PREFIX + "error.message") or ""
    problems = [
        "the value differs from the original" if letter.value != poison.value else "",
        f"error.class is {error}" if error != "streamworks.schemas.errors.ValueDecodeError" else "",
        f"error.message {message!r} lacks {poison.reason!r}"
        if poison.reason not in message
        else "",
        "origin.topic" if header(headers, DLQ_PREFIX + "origin.topic") != f"{name}.in" else "",
    ]
    return [f"{poison.ident}: {problem}" for problem in problems if problem]


def _size(letter: Consumed) -> int:
    return len(letter.value or b"") + sum(len(k) + len(v) for k, v in letter.headers)


def _outage_outputs(plan: Plan, letters: Letters, registry: RegistryClient) -> list[int]:
    """Kafka timestamps of the outputs of the orders written in version 2 during the outage."""
    codec = RecordCodec(EnrichedOrder, AvroCodec(registry), register=False)
    ids = {str(plan.good[n].order_id) for n in DURING_OUTAGE if n % 2}
    return [r.timestamp for r in letters.tagged if str(codec.decode(r.value).order_id) in ids]


def _record(
    plan: Plan,
    run: Run,
    *,
    figures: Figures,
    letters: Letters,
    out: list[int],
    refusals: list[str],
) -> None:
    kinds = Counter(p.kind for p in plan.poison)
    near = [letters.by_ident[p.ident] for p in plan.poison if p.kind == "near-size-limit"]
    first_out_s = (min(out, default=run.outage_ended_ms) - run.outage_began_ms) / 1000
    record(
        "poison",
        {
            **figures.as_report(),
            "scenario": "6. poison and fuzz",
            "guarantee": "exactly-once",
            "detail": (
                f"{len(plan.poison)} bad of {len(kinds)} kinds, {len(letters.by_ident)} "
                f"dead-lettered; registry down {run.outage_s:.1f} s, {len(out)} new-schema "
                f"orders out {first_out_s:.1f} s after it went down; "
                f"RSS +{run.rss_growth_mb:.1f} MB; {run.restarts} worker exits"
            ),
            "bad": len(plan.poison),
            "kinds": len(kinds),
            "dead_lettered": len(letters.by_ident) + letters.unmarked + letters.repeated,
            "dead_lettered_by_kind": dict(
                sorted(Counter(i.split("#")[0] for i in letters.by_ident).items())
            ),
            "near_limit_dead_letter_bytes": max(map(_size, near), default=0),
            "over_limit_refusals": refusals,
            "registry_outage_s": round(run.outage_s, 1),
            "registry_503_answers": run.answered_503,
            "outage_orders_out": len(out),
            "outage_orders_first_out_s": round(first_out_s, 1),
            "rss_before_mb": sorted(round(mb, 1) for mb in run.rss_before.values()),
            "rss_growth_mb": round(run.rss_growth_mb, 1),
            "restarts": run.restarts,
            "registry_crashes": run.registry_crashes,
        },
    )


@pytest.mark.timeout(300)
async def test_poison_and_fuzz(kafka: KafkaEndpoint, registry_url: str) -> None:
    registry = RegistryClient(registry_url)  # the test's own way in: never down
    with RegistryProxy(registry_url) as proxy:
        chaos = await chaos_copy(kafka, proxy.url, "exactly-once")
        plan = _plan(register_schemas(registry, chaos.name), registry, chaos.name)
        topic_before = await end_offsets(chaos.settings, f"{chaos.name}.in", chaos.partitions)
        refusals = await _over_limit_refused(chaos)
        topic_after = await end_offsets(chaos.settings, f"{chaos.name}.in", chaos.partitions)
        run = await _run(chaos, proxy, plan)
    figures = await check(
        kafka.bootstrap_servers, registry_url, chaos.name, plan.good, exactly_once=True
    )
    letters = await _letters(kafka, chaos)
    out = _outage_outputs(plan, letters, registry)
    _record(plan, run, figures=figures, letters=letters, out=out, refusals=refusals)

    # records over the limits were refused with a clear error and never reached the topic
    assert len(refusals) == 3
    assert topic_after == topic_before
    # good out = good in: once each, in order, totals right
    assert (figures.events_in, figures.events_out) == (ORDERS, ORDERS)
    assert figures.damage(exactly=True) == {}
    # dead-lettered = bad: every poison once, nothing else, each one explained
    assert letters.unmarked == 0, f"{letters.unmarked} good records were dead-lettered"
    assert letters.repeated == 0
    assert Counter(i.split("#")[0] for i in letters.by_ident) == Counter(
        p.kind for p in plan.poison
    )
    assert [
        problem
        for p in plan.poison
        for problem in _unexplained(p, letters.by_ident[p.ident], chaos.name)
    ] == []
    assert letters.totals == 0
    near = [letters.by_ident[p.ident] for p in plan.poison if p.kind == "near-size-limit"]
    assert all(_size(letter) < BROKER_LIMIT for letter in near)
    # the outage was waited out: its new-schema orders came out after it, and the
    # unregistered ids sent during it were dead-lettered (as unregistered) after it
    assert run.answered_503 > 0
    assert len(out) == len(DURING_OUTAGE) // 2
    assert min(out) >= run.outage_ended_ms
    assert all(
        int(header(tuple(letters.by_ident[p.ident].headers), DLQ_PREFIX + "timestamp") or 0)
        >= run.outage_ended_ms
        for p in plan.held
    )
    # memory stayed flat, and no worker exited
    assert run.rss_growth_mb < RSS_GROWTH_MB
    assert run.restarts == 0
    assert run.same_workers


@pytest.mark.timeout(60)
def test_very_deep_nesting_is_a_decode_error() -> None:
    """Decoding, as the tag stage does, a 100,000-deep value: a dead letter, not a crash."""
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tests.chaos.poison_corpus import deeply_nested_outcome as outcome; "
            "print(outcome(100_000))",
        ],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert child.returncode == 0, f"the decoding process died: exit {child.returncode}"
    assert child.stdout.startswith("ValueDecodeError: cannot decode record value")
    assert deeply_nested_outcome(50) == "decoded"  # shallow nesting is fine


@pytest.mark.timeout(120)
async def test_a_bad_record_at_the_size_limit_is_dead_lettered(
    kafka: KafkaEndpoint, registry_url: str
) -> None:
    """The tag stage's processor and sender (what its worker runs) on the largest bad
    record the producer and broker accept: its dead letter must reach the DLQ."""
    registry = RegistryClient(registry_url)
    chaos = await chaos_copy(kafka, registry_url, "exactly-once", partitions=1)
    ids = register_schemas(registry, chaos.name)
    order = orders(1, start=2_000_000)[0]
    value, key = at_size_limit(ids, order), order.customer_id.encode()
    pipeline = chaos_pipeline(chaos.name, partitions=1)
    producer = clients.producer(chaos.settings)
    await producer.start()
    try:
        accepted = await producer.send_and_wait(f"{chaos.name}.in", value, key=key)
        processor = StageProcessor(
            pipeline.stages["tag"], AvroCodec(registry), pipeline.dead_letter_topic("tag")
        )
        message = InMessage(f"{chaos.name}.in", 0, accepted.offset, key, value)
        [letter] = (await processor.process([message])).records
        assert letter.topic == pipeline.dead_letter_topic("tag")
        await acknowledged(await BatchSender(producer).send([letter]))
    finally:
        await producer.stop()
    [copy] = (await drain(kafka.bootstrap_servers, [letter.topic]))[letter.topic]
    assert value.startswith(copy.value)
    assert "left after the record" in (
        header(tuple(copy.headers), DLQ_PREFIX + "error.message") or ""
    )


class _Down:
    """A schema source whose registry answers registrations (made at start-up, before the
    outage) but is unreachable for the schemas a worker looks up while it runs."""

    def __init__(self, registry: InMemoryRegistry) -> None:
        self._registry = registry

    def register(self, subject: str, schema: str) -> int:
        return self._registry.register(subject, schema)

    def schema_by_id(self, schema_id: int) -> str:
        raise RegistryUnavailableError(f"registry down (looking up schema id {schema_id})")


def test_an_aggregation_never_dead_letters_for_a_registry_outage() -> None:
    """The ``totals`` stage's processor meets an order in a schema version it has not seen
    while the registry is down: it may stop (its worker's successor reads the order again)
    but must not dead-letter it."""
    registry = InMemoryRegistry()
    value = evolved_encoder(registry, "agg")(orders(1)[0])
    register_schemas(registry, "agg")
    pipeline = chaos_pipeline("agg")
    dlq = pipeline.dead_letter_topic("totals")
    processor = AggregationProcessor(pipeline.stages["totals"], AvroCodec(_Down(registry)), dlq)
    processor.open_task(0, Store())
    message = InMessage("agg.tagged", 0, 0, b"c000", value)
    try:
        outputs = processor.process([message], Counts())
    except RegistryUnavailableError:
        return
    assert [r for o in outputs.values() for r in o.records if r.topic == dlq] == []
