"""State lives in the topic: restarts keep it, two instances share it, one primary writes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from streamworks.core.settings import Settings
from streamworks.registry.errors import NotPrimaryError
from streamworks.registry.log import LogReader, LogWriter
from streamworks.registry.records import ConfigRecord
from streamworks.registry.state import RegistryState
from streamworks.testing import KafkaEndpoint, unique_name, wait_for
from streamworks.testing.registry import running_registry


def schema(name: str, *fields: str) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "fields": [{"name": f, "type": "string", "default": ""} for f in ("id", *fields)],
        }
    )


async def register(url: str, subject: str, text: str) -> int:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(f"/subjects/{subject}/versions", json={"schema": text})
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


async def snapshot(url: str) -> dict[str, Any]:
    """Every subject's versions with their ids, the global and subject levels."""
    async with httpx.AsyncClient(base_url=url) as http:
        subjects = (await http.get("/subjects")).json()
        seen: dict[str, Any] = {"config": (await http.get("/config")).json()}
        for subject in subjects:
            versions = (await http.get(f"/subjects/{subject}/versions")).json()
            seen[subject] = [
                (await http.get(f"/subjects/{subject}/versions/{v}")).json() for v in versions
            ]
            seen[f"config:{subject}"] = (
                await http.get(f"/config/{subject}?defaultToGlobal=true")
            ).json()
    return seen


async def test_a_restarted_registry_serves_the_same_ids_and_continues_without_reuse(
    kafka: KafkaEndpoint,
) -> None:
    topic = unique_name("_schemas")
    async with running_registry(kafka.bootstrap_servers, topic=topic) as first:
        ids = [await register(first.url, f"s{i}", schema(f"R{i}")) for i in range(4)]
        ids.append(await register(first.url, "s0", schema("R0", "extra")))
        async with httpx.AsyncClient(base_url=first.url) as http:
            await http.put("/config/s1", json={"compatibility": "FULL"})
            await http.put("/config", json={"compatibility": "FORWARD"})
            # a hard-deleted id must not come back after the restart either
            await http.delete("/subjects/s3")
            await http.delete("/subjects/s3?permanent=true")
        before = await snapshot(first.url)

    async with running_registry(kafka.bootstrap_servers, topic=topic) as second:
        assert await snapshot(second.url) == before
        fresh = await register(second.url, "new", schema("Fresh"))
        assert fresh == max(ids) + 1
        assert await register(second.url, "s2", schema("R2")) == ids[2]


async def test_two_instances_share_one_primary_and_agree_on_every_id(
    kafka: KafkaEndpoint,
) -> None:
    topic = unique_name("_schemas")
    async with (
        running_registry(kafka.bootstrap_servers, topic=topic) as a,
        running_registry(kafka.bootstrap_servers, topic=topic) as b,
    ):
        instances = (a, b)

        def one_primary_known() -> bool:
            primaries = [i for i in instances if i.is_primary]
            announced = {i.state.primary.instance if i.state.primary else None for i in instances}
            return len(primaries) == 1 and announced == {primaries[0].instance}

        await wait_for(one_primary_known, timeout=60, what="exactly one announced primary")
        primary = next(i for i in instances if i.is_primary)
        secondary = next(i for i in instances if not i.is_primary)

        # a write sent to the secondary is forwarded, and reads back there at once
        forwarded = await register(secondary.url, "via-secondary", schema("Forwarded"))
        async with httpx.AsyncClient(base_url=secondary.url) as http:
            latest = (await http.get("/subjects/via-secondary/versions/latest")).json()
        assert latest["id"] == forwarded

        # 20 concurrent registrations spread over both: 10 schemas, each under two subjects
        jobs = [
            register(instances[n % 2].url, f"subject-{n}", schema(f"Shared{n % 10}"))
            for n in range(20)
        ]
        ids = await asyncio.gather(*jobs)
        by_schema: dict[int, set[int]] = {}
        for n, schema_id in enumerate(ids):
            by_schema.setdefault(n % 10, set()).add(schema_id)
        assert all(len(found) == 1 for found in by_schema.values()), by_schema
        assert len(set(ids)) == 10
        assert forwarded not in ids

        async def same_everywhere() -> bool:
            return await snapshot(a.url) == await snapshot(b.url)

        await wait_for(same_everywhere, timeout=30, what="both instances to agree")
        assert [i.is_primary for i in instances].count(True) == 1

        # the primary leaves: the other takes over and writes go on with fresh ids
        await primary.stop()
        await wait_for(lambda: secondary.is_primary, timeout=60, what="the takeover")
        after = await register(secondary.url, "after-failover", schema("After"))
        assert after == max([forwarded, *ids]) + 1


async def test_a_deposed_writer_is_fenced_and_cannot_write(
    kafka: KafkaEndpoint, topic_factory: Any
) -> None:
    topic = await topic_factory("_schemas", config={"cleanup.policy": "compact"})
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers)
    old, new = LogWriter(settings, topic), LogWriter(settings, topic)
    state = RegistryState()
    reader = LogReader(settings, topic, state)
    await old.start()
    try:
        await old.write([ConfigRecord(None, "FULL")])
        await new.start()  # a newly elected primary starts its writer: the old one is fenced
        try:
            with pytest.raises(NotPrimaryError, match="fenced"):
                await old.write([ConfigRecord(None, "NONE")])
            offset = await new.write([ConfigRecord("s", "FORWARD")])
            await reader.start(within=30)
            await reader.wait_position(offset, within=30)
        finally:
            await new.stop()
            await reader.stop()
    finally:
        await old.stop()
    assert state.level(None) == "FULL"
    assert state.level("s") == "FORWARD"
