"""The webhook sink against a real aiohttp server on loopback that answers scripted statuses."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr, ValidationError

from streamworks.connectors.base import RejectedError, SinkRecord, TransientError
from streamworks.connectors.webhook import WebhookSink, WebhookSinkConfig


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class Endpoint:
    """Answers requests with the scripted answers in turn (then 200), keeping each request."""

    def __init__(self) -> None:
        self.script: list[Answer] = []
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), json.loads(await request.read())))
        answer = self.script.pop(0) if self.script else Answer()
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        return web.Response(status=answer.status, headers=answer.headers, text="scripted")

    def offsets(self) -> list[list[int]]:
        return [[r["offset"] for r in body] for _, body in self.requests]


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    found = Endpoint()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{port}/hook"
    yield found
    await runner.cleanup()


class FakeSinkContext:
    @property
    def name(self) -> str:
        return "hook"

    def value_schema(self, topic: str) -> dict[str, Any]:
        raise NotImplementedError


def records(first: int, count: int) -> list[SinkRecord]:
    return [SinkRecord("t", 1, n, f"k{n}", {"n": n}, 0) for n in range(first, first + count)]


async def started(url: str, **overrides: Any) -> WebhookSink:
    options: dict[str, Any] = {"name": "hook", "topics": ["t"], "url": url, "timeout_s": 2}
    sink = WebhookSink(WebhookSinkConfig(**(options | overrides)))
    await sink.start(FakeSinkContext())
    return sink


async def test_a_batch_is_posted_as_json_arrays_of_max_batch(endpoint: Endpoint) -> None:
    sink = await started(
        endpoint.url, max_batch=2, headers={"Authorization": SecretStr("Bearer s3")}
    )
    try:
        await sink.write(records(0, 5))
        await sink.flush()
    finally:
        await sink.close()
    assert endpoint.offsets() == [[0, 1], [2, 3], [4]]
    headers, body = endpoint.requests[0]
    assert headers["Authorization"] == "Bearer s3"
    assert headers["Content-Type"] == "application/json"
    assert body[0] == {
        "topic": "t",
        "partition": 1,
        "offset": 0,
        "key": "k0",
        "timestamp": "1970-01-01T00:00:00.000Z",
        "value": {"n": 0},
    }
    keys = [h["Idempotency-Key"] for h, _ in endpoint.requests]
    assert len(set(keys)) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 422, 301])
async def test_refusals_are_rejected_and_the_rest_still_delivered(
    endpoint: Endpoint, status: int
) -> None:
    endpoint.script = [Answer(), Answer(status)]
    sink = await started(endpoint.url, max_batch=2)
    try:
        batch = records(0, 6)
        with pytest.raises(RejectedError, match=f"HTTP {status}") as refused:
            await sink.write(batch)
        assert refused.value.records == batch[2:4]
        await sink.write([r for r in batch if r not in batch[2:4]])  # as the runtime does
    finally:
        await sink.close()
    assert endpoint.offsets() == [[0, 1], [2, 3], [4, 5]]  # nothing posted twice


@pytest.mark.parametrize(
    ("answer", "after"),
    [
        (Answer(503), None),
        (Answer(500), None),
        (Answer(408), None),
        (Answer(429, {"Retry-After": "7"}), 7.0),
        (Answer(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), 0.0),
    ],
)
async def test_unavailable_answers_are_transient_with_retry_after(
    endpoint: Endpoint, answer: Answer, after: float | None
) -> None:
    endpoint.script = [answer]
    sink = await started(endpoint.url)
    try:
        with pytest.raises(TransientError, match=f"HTTP {answer.status}") as failed:
            await sink.write(records(0, 2))
    finally:
        await sink.close()
    assert failed.value.retry_after == after


async def test_a_retry_skips_delivered_requests_and_repeats_the_failed_key(
    endpoint: Endpoint,
) -> None:
    endpoint.script = [Answer(), Answer(502)]
    sink = await started(endpoint.url, max_batch=2)
    try:
        batch = records(10, 4)
        with pytest.raises(TransientError):
            await sink.write(batch)
        await sink.write(batch)  # the runtime retries the same batch
        await sink.flush()
    finally:
        await sink.close()
    assert endpoint.offsets() == [[10, 11], [12, 13], [12, 13]]
    keys = [h["Idempotency-Key"] for h, _ in endpoint.requests]
    assert keys[1] == keys[2] != keys[0]


async def test_a_slow_endpoint_times_out_as_transient(endpoint: Endpoint) -> None:
    endpoint.script = [Answer(delay_s=2)]
    sink = await started(endpoint.url, timeout_s=0.2)
    try:
        with pytest.raises(TransientError, match=r"did not answer within 0\.2s"):
            await sink.write(records(0, 1))
    finally:
        await sink.close()


async def test_a_closed_port_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = await started(f"http://127.0.0.1:{port}/hook")
    try:
        with pytest.raises(TransientError, match="cannot reach"):
            await sink.write(records(0, 1))
    finally:
        await sink.close()


@pytest.mark.parametrize("url", ["ftp://example.org/x", "http:///nohost", "localhost:80"])
def test_only_http_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        WebhookSinkConfig(name="hook", topics=["t"], url=url)


def test_header_values_are_secret() -> None:
    config = WebhookSinkConfig.model_validate(
        {"name": "hook", "topics": ["t"], "url": "https://x.test/h", "headers": {"A": "s3"}}
    )
    assert "s3" not in repr(config)
