"""The webhook sink on real Kafka against a loopback aiohttp endpoint: the sink contract,
refusals dead-lettered, unavailability retried."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from streamworks.connectors.base import SinkConfig
from streamworks.connectors.webhook import WebhookSinkConfig
from streamworks.core.settings import Settings
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.testing.connectors import running
from streamworks.testing.helpers import consume_until, unique_name
from tests.integration.connectors.contract import SinkContract, enriched_orders


class Receiver:
    """Keeps every delivered record; refuses (400) requests holding a banned order id and
    answers 503 to the first ``unavailable`` requests."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.banned: set[str] = set()
        self.unavailable = 0
        self.requests = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.unavailable > 0:
            self.unavailable -= 1
            return web.Response(status=503, headers={"Retry-After": "0"})
        body = json.loads(await request.read())
        if any(r["value"]["order_id"] in self.banned for r in body):
            return web.Response(status=400, text="order refused")
        self.records.extend(body)
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/orders", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/orders"
    yield found
    await runner.cleanup()


class TestWebhookSink(SinkContract):
    """Deliveries are kept in the receiver, one entry per delivered record."""

    @pytest.fixture(autouse=True)
    def _receiver(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def config(self, name: str, topic: str, tmp_path: Path) -> WebhookSinkConfig:
        return WebhookSinkConfig(
            name=name,
            topics=[topic],
            url=self.receiver.url,
            max_batch=50,
            timeout_s=5,
            batch_wait_ms=50,
        )

    async def read_back(self, config: SinkConfig, tmp_path: Path) -> list[dict[str, Any]]:
        return [r["value"] for r in self.receiver.records]

    async def test_refused_requests_are_dead_lettered_and_the_rest_delivered(
        self, source: str, settings: Settings, tmp_path: Path
    ) -> None:
        orders = enriched_orders(60, seed=6)
        banned = str(orders[7].order_id)
        self.receiver.banned = {banned}
        config = self.config(unique_name("sink"), source, tmp_path).model_copy(
            update={"max_batch": 1}
        )
        async with running([config], settings):
            await self.publish(settings, source, orders)
            dead = await consume_until(settings.bootstrap_servers, config.dlq_topic, count=1)
            await self.landed(
                config,
                tmp_path,
                {str(o.order_id): o.amount_cents for o in orders if str(o.order_id) != banned},
            )
        assert [m.key for m in dead] == [banned.encode()]
        reason = header(
            tuple((k, bytes(v)) for k, v in dead[0].headers), DLQ_PREFIX + "error.message"
        )
        assert "HTTP 400" in (reason or "")
        assert banned not in {r["value"]["order_id"] for r in self.receiver.records}

    async def test_an_unavailable_endpoint_is_retried_until_it_answers(
        self, source: str, settings: Settings, tmp_path: Path
    ) -> None:
        orders = enriched_orders(40, seed=8)
        self.receiver.unavailable = 3
        config = self.config(unique_name("sink"), source, tmp_path)
        async with running([config], settings):
            await self.publish(settings, source, orders)
            await self.landed(config, tmp_path, {str(o.order_id): o.amount_cents for o in orders})
        assert self.receiver.requests > 3
