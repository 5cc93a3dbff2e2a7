"""Scenario a (issue 21): output faults. A valid order whose output is too large for the
next hop, among 3,000 good ones, under exactly-once; once per hop of the chaos pipeline.

Every order comes in through an HTTP ingest in front of ``<name>.in`` (NDJSON, 100 a
request, each answered 202 once in Kafka), as in issue 21. The pipeline's two outputs get a
small ``max.message.bytes`` (``tagged`` 64 KiB, ``totals`` 16 KiB; its input keeps the
broker's 1 MB), and one valid order comes in that the ingest and ``in`` take but a stage
cannot write on:

- ``tag``: an order with a 100 KB ``sku``; ``tag``'s copy of it is too large for
  ``tagged``, so ``tag`` must dead-letter it;
- ``totals``: an order from a customer with a 12 KB id; the order fits ``tagged`` and
  comes out there, but the running total ``totals`` writes for it (key and value both
  carry the id) is too large for ``totals``, so ``totals`` must dead-letter it.

What a user cares about: the order is dead-lettered once, with ``OutputTooLargeError`` as
the reason, every other order comes out once with the right totals, and no worker exits
(issue 21: such an order failed the produce and the worker, on every restart, and the
orders behind it were stuck; an aggregation did so until this scenario's ``totals`` hop).
A run stops at the first worker exit, and its report row says what the worker died of.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import replace
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import aiohttp
import pytest
from aiokafka import ConsumerRecord
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.records import EnrichedOrder
from streamworks.connectors.http import HttpSourceConfig
from streamworks.kafka import clients
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.runtime.topics import register_contracts
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing import KafkaEndpoint, connectors, unique_name
from tests.chaos.app import chaos_pipeline
from tests.chaos.checker import check, drain
from tests.chaos.harness import (
    INPUTS,
    Chaos,
    caught_up,
    chaos_copy,
    orders,
    record,
    running,
    started,
)
from tests.integration.connectors.test_http_source import free_port, post_ndjson, until_serving

ORDERS = 3_000
INGEST_BATCH = 100
"""Orders per POST to the ingest."""
POOLS = {"tag": 2, "totals": 2}
LIMITS = {"tagged": 65_536, "totals": 16_384}
"""max.message.bytes of the outputs (topic suffix -> bytes)."""
TOO_LARGE = "streamworks.runtime.processor.OutputTooLargeError"
_ERROR_LINE = re.compile(r"^[\w.]+(?:Error|Exception): .*$", re.MULTILINE)


async def _limit_outputs(chaos: Chaos) -> None:
    """Give the pipeline's outputs the small ``LIMITS`` (before its workers start: they
    read the limits then)."""
    admin = clients.admin_client(chaos.settings)
    await admin.start()
    try:
        for suffix, limit in LIMITS.items():
            config = {"max.message.bytes": str(limit)}
            resource = ConfigResource(ConfigResourceType.TOPIC, f"{chaos.name}.{suffix}", config)
            for response in await admin.alter_configs([resource]):
                errors = [e for e in response.to_object()["resources"] if e["error_code"]]
                assert not errors, f"max.message.bytes={limit} refused: {errors}"
    finally:
        await admin.close()


def _too_large_for(hop: str) -> EnrichedOrder:
    """A valid order whose output at ``hop`` is too large for that stage's output topic:
    a 100 KB sku (too large for ``tagged``), or a 12 KB customer id (its order fits
    ``tagged``; its running total, which carries the id as key and in its value, does
    not fit ``totals``)."""
    [base] = orders(1, start=ORDERS)
    if hop == "tag":
        return replace(base, sku="S" * 100_000)
    return replace(base, customer_id="c-" + "x" * 12_000)


async def _settled(chaos: Chaos, supervisor: Supervisor) -> bool:
    """Wait until both stages committed all of their input (True), or a worker exited
    (False, at once: the oversize output was the worker's end, not the record's)."""
    waiting = asyncio.create_task(caught_up(chaos, supervisor, INPUTS, within_s=120))
    while not waiting.done():
        if supervisor.restarts:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            return False
        await asyncio.wait({waiting}, timeout=0.25)
    waiting.result()
    return True


def _as_json(order: EnrichedOrder) -> dict[str, Any]:
    """An order as a client posts it: ids and times as text."""
    return {
        field: value.isoformat()
        if isinstance(value, datetime)
        else value.value
        if isinstance(value, Enum)
        else str(value)
        if isinstance(value, UUID)
        else value
        for field, value in order.to_avro().items()
    }


async def _ingest(chaos: Chaos, batch: list[EnrichedOrder]) -> list[EnrichedOrder]:
    """POST ``batch`` in order to an HTTP ingest in front of ``<name>.in``, 100 a request;
    return the orders it acknowledged (202: in Kafka)."""
    topic = f"{chaos.name}.in"
    register_contracts(
        chaos_pipeline(chaos.name, partitions=chaos.partitions),
        RegistryClient(chaos.settings.registry_url),
    )
    config = HttpSourceConfig(
        name=unique_name("ingest"), topic=topic, port=free_port(), key_field="customer_id"
    )
    url = f"http://127.0.0.1:{config.port}"
    sent: list[EnrichedOrder] = []
    async with connectors.running([config], chaos.settings), aiohttp.ClientSession() as session:
        await until_serving(session, url)
        for start in range(0, len(batch), INGEST_BATCH):
            part = batch[start : start + INGEST_BATCH]
            await post_ndjson(session, f"{url}/topics/{topic}", [_as_json(o) for o in part])
            sent += part
    return sent


def _errors(letters: list[ConsumerRecord[bytes, bytes]]) -> list[str]:
    """The error class of each dead letter."""
    return [header(tuple(r.headers), DLQ_PREFIX + "error.class") or "?" for r in letters]


def _last_exit(chaos: Chaos) -> str | None:
    """The error the last exited worker ended with, from the workers' logs."""
    found = [
        line
        for log in sorted(chaos.logs.glob("*.log"))
        for line in _ERROR_LINE.findall(log.read_text(errors="replace"))
    ]
    return found[-1] if found else None


@pytest.mark.timeout(240)
@pytest.mark.parametrize("hop", ["tag", "totals"])
async def test_an_output_too_large_for_its_topic_is_dead_lettered(
    kafka: KafkaEndpoint, registry_url: str, hop: str
) -> None:
    chaos = await chaos_copy(kafka, registry_url, "exactly-once")
    await _limit_outputs(chaos)
    oversize = _too_large_for(hop)
    good = orders(ORDERS)
    supervisor = chaos.supervisor(POOLS)
    began = time.monotonic()
    with running(supervisor):
        await started(supervisor, chaos.logs)
        pids = {w.process.pid for w in supervisor.workers()}
        sent = await _ingest(chaos, [*good[: ORDERS // 3], oversize, *good[ORDERS // 3 :]])
        settled = await _settled(chaos, supervisor)
        same_workers = {w.process.pid for w in supervisor.workers()} == pids
    assert oversize in sent  # the ingest took it (202): it is valid, and fits ``in``
    figures = await check(
        kafka.bootstrap_servers, registry_url, chaos.name, good, exactly_once=True
    )
    pipeline = chaos_pipeline(chaos.name, partitions=chaos.partitions)
    dlqs = {stage: pipeline.dead_letter_topic(stage) for stage in INPUTS}
    read = await drain(kafka.bootstrap_servers, list(dlqs.values()))
    letters = {stage: _errors(read[topic]) for stage, topic in dlqs.items()}
    exit_reason = _last_exit(chaos)
    record(
        f"output-faults-{hop}",
        {
            **figures.as_report(),
            "scenario": f"a. output too large at {hop}",
            "guarantee": chaos.guarantee,
            "detail": ", ".join(
                f"{len(errors)} {stage} dead letter(s)" for stage, errors in letters.items()
            )
            + f"; {supervisor.restarts} worker exits"
            + (f" ({exit_reason}); stopped there" if supervisor.restarts else ""),
            "limits": LIMITS,
            "dead_letters": letters,
            "caught_up": settled,
            "restarts": supervisor.restarts,
            "exit_reason": exit_reason,
            "same_workers": same_workers,
            "seconds": round(time.monotonic() - began, 1),
        },
    )
    # no worker exited: the oversize output was the record's failure, not the worker's
    assert supervisor.restarts == 0, f"worker exits: {supervisor.restarts} ({exit_reason})"
    assert settled
    assert same_workers
    # the oversize output dead-lettered its input once, at the hop that refused it
    assert letters == {stage: [TOO_LARGE] if stage == hop else [] for stage in INPUTS}
    # every other order out once, in order, with the right totals (the large-customer
    # order itself fits tagged, so it is out there too: only its running total is not)
    assert figures.events_in == ORDERS
    assert figures.damage(exactly=True) == {}
    assert figures.events_out == ORDERS + (hop == "totals")
