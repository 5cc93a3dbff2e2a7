"""Request-reply over topics against a real stage worker."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from schemas.records import InvalidOrder, ValidOrder
from streams.orders import OrderGenerator, clean_order, format_order, orders_pipeline
from streamworks.core.settings import Settings
from streamworks.runtime.reply import Requester, RequestTimeoutError
from streamworks.runtime.topics import ensure_topics
from streamworks.runtime.worker import StageWorker
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing import KafkaEndpoint, unique_name


async def test_a_caller_awaits_the_validate_stage_answer(
    kafka: KafkaEndpoint, registry_url: str
) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=registry_url)
    generator = OrderGenerator(seed=4)
    prefix = unique_name("rr")
    pipeline = orders_pipeline(prefix=prefix, name=prefix)
    await ensure_topics(pipeline, settings)
    codec = AvroCodec(RegistryClient(registry_url))
    order = format_order(clean_order(next(generator.orders(1))))
    types = {f"{prefix}.valid": ValidOrder, f"{prefix}.invalid": InvalidOrder}

    async with Requester(settings, codec, reply_types=types) as requester:
        with pytest.raises(RequestTimeoutError, match="is a worker of that stage running"):
            await requester.request(f"{prefix}.formatted", order, timeout=1)

        worker = StageWorker(
            pipeline, "validate", settings, AvroCodec(RegistryClient(registry_url))
        )
        task = asyncio.create_task(worker.run())
        try:
            good = await requester.request(f"{prefix}.formatted", order, timeout=60)
            bad = await requester.request(
                f"{prefix}.formatted", replace(order, currency="XXX"), timeout=30
            )
        finally:
            worker.stop()
            await task

    assert good.status == "ok"
    [(topic, valid)] = good.outputs
    assert topic == f"{prefix}.valid"
    assert isinstance(valid, ValidOrder)
    assert valid.order_id == order.order_id
    [(topic, invalid)] = bad.outputs
    assert topic == f"{prefix}.invalid"
    assert isinstance(invalid, InvalidOrder)
    assert "currency XXX is not accepted" in invalid.violations
