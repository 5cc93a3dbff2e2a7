"""Request-reply over topics against a real stage worker."""

from __future__ import annotations

import asyncio

import pytest

from streamworks.core.settings import Settings
from streamworks.runtime.reply import Requester, RequestTimeoutError
from streamworks.runtime.topics import ensure_topics
from streamworks.runtime.worker import StageWorker
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing import KafkaEndpoint, unique_name
from tests.kit.builders import reading
from tests.kit.pipelines import sensor_pipeline
from tests.kit.records import Alarm, Label, Level


async def test_a_caller_awaits_the_classify_stage_answer(
    kafka: KafkaEndpoint, registry_url: str
) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=registry_url)
    prefix = unique_name("rr")
    pipeline = sensor_pipeline(prefix)
    await ensure_topics(pipeline, settings)
    codec = AvroCodec(RegistryClient(registry_url))
    calm, hot = reading("s1", 0, 85.0), reading("s2", 0, 150.0)
    types = {f"{prefix}.labels": Label, f"{prefix}.alarms": Alarm}

    async with Requester(settings, codec, reply_types=types) as requester:
        with pytest.raises(RequestTimeoutError, match="is a worker of that stage running"):
            await requester.request(f"{prefix}.scaled", calm, timeout=1)

        worker = StageWorker(
            pipeline, "classify", settings, AvroCodec(RegistryClient(registry_url))
        )
        task = asyncio.create_task(worker.run())
        try:
            good = await requester.request(f"{prefix}.scaled", calm, timeout=60)
            bad = await requester.request(f"{prefix}.scaled", hot, timeout=30)
        finally:
            worker.stop()
            await task

    assert good.status == "ok"
    [(topic, label)] = good.outputs
    assert topic == f"{prefix}.labels"
    assert label == Label("s1", Level.WARN)
    [(topic, alarm)] = bad.outputs
    assert topic == f"{prefix}.alarms"
    assert isinstance(alarm, Alarm)
    assert alarm.reading == hot
    assert "above 100" in alarm.reasons
