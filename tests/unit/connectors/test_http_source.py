"""The HTTP source's answers, served for real on loopback with an in-memory runtime.

The fake context converts with the runtime's real converter (against an in-process schema
source) and keeps what is produced in a list, so the tests can say what Kafka would hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import fastavro
import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDictProxy

import schemas  # noqa: F401  (the reference project's contracts, looked up by name here)
from streamworks.connectors.base.convert import TopicConverter
from streamworks.connectors.base.errors import ConnectorError, ProduceError
from streamworks.connectors.base.records import Position, SourceRecord
from streamworks.connectors.http import HttpSource, HttpSourceConfig
from streamworks.connectors.http._answers import Refusal
from streamworks.connectors.http._flow import Flow
from streamworks.connectors.http._handlers import Ingest
from streamworks.core.messages import OutRecord
from streamworks.schemas.catalog import contract
from streamworks.schemas.errors import SchemaNotFoundError
from streamworks.schemas.registry_client import RegisteredSchema, RegistryClient
from streamworks.testing.helpers import wait_for
from tests.unit.connectors.fakes import MemoryContext

TOPIC = "orders"
NO_SCHEMA = "orphans"
RAW_SCHEMA = contract("orders.raw").schema
_BIG = 2**20


def good(n: int = 0, **change: Any) -> dict[str, Any]:
    """A raw order that fits the orders.raw contract."""
    return {
        "order_id": f"o-{n}",
        "source": "http",
        "received_at": "2026-11-27T09:00:00Z",
        "amount": "12.50",
        **change,
    }


def ndjson(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


class FakeRegistry(RegistryClient):
    """Serves the raw-order contract for ``orders`` and nothing else."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1")

    def latest(self, subject: str) -> RegisteredSchema:
        if subject != f"{TOPIC}-value":
            raise SchemaNotFoundError(f"no subject {subject}", status=404, error_code=40401)
        return RegisteredSchema(subject, 1, 7, json.dumps(RAW_SCHEMA))


class FakeContext(MemoryContext):
    """Converts for real and keeps produced records; produce() can be gated or made to fail."""

    def __init__(self) -> None:
        super().__init__("http-test", converter=TopicConverter(FakeRegistry()))
        self.calls = 0
        """produce() calls so far."""
        self.failure: BaseException | None = None
        """Raised by the next produce() call, then cleared."""
        self.gate: asyncio.Event | None = None
        """When set to an Event, produce() waits for it before acknowledging."""
        self.convert_bug: BaseException | None = None
        self.converted = 0

    async def convert(self, record: SourceRecord) -> OutRecord:
        self.converted += 1
        if self.convert_bug is not None:
            raise self.convert_bug
        return await super().convert(record)

    async def produce(
        self,
        records: Sequence[OutRecord],
        *,
        partition: str | None = None,
        position: Position | None = None,
    ) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        await super().produce(records, partition=partition, position=position)

    def values(self) -> list[dict[str, Any]]:
        """The produced records, decoded."""
        parsed = fastavro.parse_schema(RAW_SCHEMA)
        out = []
        for record in self.produced:
            assert record.value is not None
            value = fastavro.schemaless_reader(io.BytesIO(record.value[5:]), parsed, None)
            assert isinstance(value, dict)
            out.append(value)
        return out


@dataclass
class Served:
    """A running HTTP source: its base URL, its runtime and a client session."""

    url: str
    context: FakeContext
    session: aiohttp.ClientSession
    task: asyncio.Task[None]
    port: int

    async def post(
        self,
        body: bytes,
        *,
        content_type: str = "application/json",
        topic: str = TOPIC,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], CIMultiDictProxy[str]]:
        """POST ``body``; return status, JSON answer and headers."""
        sent = {"Content-Type": content_type, **(headers or {})}
        data = io.BytesIO(body) if len(body) > _BIG else body  # aiohttp warns on big bytes
        async with self.session.post(f"{self.url}/topics/{topic}", data=data, headers=sent) as r:
            return r.status, await r.json(content_type=None), r.headers


Serve = Callable[..., Awaitable[Served]]
"""``await serve(**config overrides)`` starts a source on a free port."""


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[Serve]:
    """A :data:`Serve` for the block; every source it started is drained at the end."""
    running: list[Served] = []

    async def start(**overrides: Any) -> Served:
        settings: dict[str, Any] = {"name": "http-test", "topic": TOPIC, "port": 0}
        settings["topics"] = [TOPIC, NO_SCHEMA]
        config = HttpSourceConfig(**(settings | overrides))
        source = HttpSource(config)
        context = FakeContext()
        task = asyncio.create_task(source.run(context))
        await asyncio.wait_for(source.listening.wait(), timeout=10)
        assert source.port is not None
        url = f"http://127.0.0.1:{source.port}"
        served = Served(url, context, aiohttp.ClientSession(), task, source.port)
        running.append(served)
        return served

    try:
        yield start
    finally:
        for served in running:
            await served.session.close()
            served.context.stopping.set()
            if not served.task.done():
                await asyncio.wait_for(served.task, timeout=30)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start HTTP sources with fake runtimes for one test."""
    async with serving() as start:
        yield start


async def test_health_and_topics_answer(serve: Serve) -> None:
    s = await serve()
    async with s.session.get(f"{s.url}/health") as r:
        assert (r.status, await r.json()) == (200, {"status": "ok"})
    async with s.session.get(f"{s.url}/topics") as r:
        assert (r.status, await r.json()) == (200, {"topics": [TOPIC, NO_SCHEMA]})


async def test_one_json_object_is_produced_before_the_202(serve: Serve) -> None:
    s = await serve()
    status, body, _ = await s.post(json.dumps(good(1)).encode())
    assert (status, body) == (202, {"accepted": 1, "topic": TOPIC})
    [value] = s.context.values()
    assert (value["order_id"], value["amount"], value["source"]) == ("o-1", "12.50", "http")


async def test_a_json_array_and_ndjson_are_batches(serve: Serve) -> None:
    s = await serve()
    status, body, _ = await s.post(json.dumps([good(1), good(2)]).encode())
    assert (status, body["accepted"]) == (202, 2)
    lines = b"\n" + ndjson(good(3), good(4)).replace(b"\n", b"\r\n", 1) + b"\n  \n"
    status, body, _ = await s.post(lines, content_type="application/x-ndjson")
    assert (status, body["accepted"]) == (202, 2)
    assert [v["order_id"] for v in s.context.values()] == ["o-1", "o-2", "o-3", "o-4"]


async def test_a_batch_with_one_bad_record_is_refused_whole(serve: Serve) -> None:
    s = await serve()
    batch = [good(0), good(1, quantity=3), good(2), {"order_id": "o-3"}, "text"]
    status, body, _ = await s.post(json.dumps(batch).encode())
    assert status == 400
    assert s.context.produced == []
    problems = body["problems"]
    assert [p["index"] for p in problems] == [1, 3, 4]
    assert problems[0]["field"] == "quantity"
    assert "expected text" in problems[0]["message"]
    assert body["problem_count"] == len(problems)
    assert "none was" in body["error"]


async def test_ndjson_problems_name_their_lines(serve: Serve) -> None:
    s = await serve()
    lines = ndjson(good(0)) + b'{"order_id": \n' + b"[1]\n" + ndjson(good(3, source=None))
    status, body, _ = await s.post(lines, content_type="application/x-ndjson")
    assert status == 400
    assert [(p["line"], p["field"]) for p in body["problems"]] == [
        (2, None),
        (3, None),
        (4, "source"),
    ]
    assert body["problems"][0]["message"].startswith("malformed JSON")
    assert s.context.produced == []


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/json", b""),
        ("application/json", b"[]"),
        ("application/x-ndjson", b""),
        ("application/x-ndjson", b"\n \n"),
        ("application/json", b"{"),
        ("application/json", b"42"),
    ],
)
async def test_empty_or_malformed_bodies_are_400(
    serve: Serve, content_type: str, raw: bytes
) -> None:
    s = await serve()
    status, body, _ = await s.post(raw, content_type=content_type)
    assert status == 400
    assert body["error"]
    assert s.context.produced == []


async def test_unknown_topics_and_topics_without_a_schema_are_404(serve: Serve) -> None:
    s = await serve()
    status, body, _ = await s.post(json.dumps(good()).encode(), topic="elsewhere")
    assert status == 404
    assert "not open here" in body["error"]
    status, body, _ = await s.post(json.dumps(good()).encode(), topic=NO_SCHEMA)
    assert status == 404
    assert f"{NO_SCHEMA}-value" in body["error"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/octet-stream", "application/json; charset=latin-1"]
)
async def test_other_content_types_are_415(serve: Serve, content_type: str) -> None:
    s = await serve()
    status, _, headers = await s.post(json.dumps(good()).encode(), content_type=content_type)
    assert status == 415
    assert "application/x-ndjson" in headers["Accept-Post"]
    assert s.context.produced == []


async def test_bodies_over_the_limit_are_413_by_length_or_while_reading(serve: Serve) -> None:
    s = await serve(max_body_bytes=1_000)
    big = json.dumps([good(n) for n in range(20)]).encode()
    status, body, _ = await s.post(big)
    assert status == 413
    assert "max_body_bytes" in body["error"]

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to check first
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    url = f"{s.url}/topics/{TOPIC}"
    headers = {"Content-Type": "application/json"}
    async with s.session.post(url, data=chunks(), headers=headers) as r:
        assert r.status == 413
    assert s.context.produced == []


async def test_a_record_too_large_for_kafka_is_413_before_producing(serve: Serve) -> None:
    s = await serve()
    huge = good(1, sku="x" * 1_100_000)
    status, body, _ = await s.post(ndjson(good(0), huge), content_type="application/x-ndjson")
    assert status == 413
    assert [p["line"] for p in body["problems"]] == [2]
    assert s.context.produced == []


async def raw_request(port: int, request: bytes) -> bytes:
    """Send ``request`` bytes as they are; return the answer's status line and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(64 * 1024), timeout=10)
    writer.close()
    return answer


async def test_no_length_is_411_and_cut_or_misframed_bodies_are_no_500(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    s = await serve()
    head = b"POST /topics/orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    assert (await raw_request(s.port, head + b"\r\n")).startswith(b"HTTP/1.1 411")
    misframed = head + b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"or\r\nzz\r\n'
    assert b" 400 " in (await raw_request(s.port, misframed)).split(b"\r\n")[0]
    _, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(head + b'Content-Length: 100\r\n\r\n{"order_id":')  # then hang up
    await writer.drain()
    writer.close()
    status, _, _ = await s.post(json.dumps(good()).encode())
    assert status == 202
    assert len(s.context.produced) == 1
    assert not [
        r
        for r in caplog.records
        if r.name.startswith("streamworks.connectors.http") and r.levelno >= logging.ERROR
    ]


HEAD = b"POST /topics/orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"


async def until_closed(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, Any]]:
    """Everything the server sends until it closes the connection: status line, JSON body.

    ``read()`` returns only at end of stream, so returning at all means the server closed
    the connection; the deadline is generous and only fails a server that never does.
    """
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body)


async def test_a_body_without_a_length_is_411_and_the_connection_closes(serve: Serve) -> None:
    s = await serve()
    body = json.dumps(good()).encode()
    big = ndjson(*(good(n) for n in range(50_000)))  # 5 MB: still sending when answered
    for sent in (body, big):
        reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
        writer.write(HEAD + b"\r\n" + sent)
        status, answer = await until_closed(reader)
        writer.close()
        assert status == b"HTTP/1.1 411 Length Required"
        assert "Content-Length" in answer["error"]
    assert s.context.produced == []
    assert (await s.post(body))[0] == 202


async def test_a_body_cut_short_is_408_and_the_connection_closes(serve: Serve) -> None:
    s = await serve(read_timeout_s=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(HEAD + b'Content-Length: 100\r\n\r\n{"order_id":')  # then nothing
    await writer.drain()
    status, answer = await until_closed(reader)
    writer.close()
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert "read_timeout_s" in answer["error"]
    assert s.context.produced == []
    assert (await s.post(json.dumps(good()).encode()))[0] == 202


async def test_a_chunked_body_that_stalls_is_408(serve: Serve) -> None:
    s = await serve(read_timeout_s=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(HEAD + b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"ord\r\n')
    await writer.drain()
    status, _ = await until_closed(reader)
    writer.close()
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert s.context.produced == []


async def test_a_first_request_head_cut_short_is_408_and_the_connection_closes(
    serve: Serve,
) -> None:
    s = await serve(read_timeout_s=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(HEAD)  # no blank line: the head never ends
    await writer.drain()
    status, answer = await until_closed(reader)
    writer.close()
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert "head" in answer["error"]


async def test_pipelined_requests_are_all_answered_in_order(serve: Serve) -> None:
    s = await serve(read_timeout_s=0.5)
    bodies = [json.dumps(good(0)).encode(), ndjson(good(1), good(2)).replace(b"\n", b"\r\n\r\n")]
    types = [b"application/json", b"application/x-ndjson"]
    requests = b"".join(
        b"POST /topics/orders HTTP/1.1\r\nHost: t\r\nContent-Type: " + kind + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        for kind, body in zip(types, bodies, strict=True)
    )
    last = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(requests + last)  # one packet: the heads and bodies back to back
    await writer.drain()
    answers = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    statuses = re.findall(rb"HTTP/1\.1 \d{3}", answers)  # an answer follows a body directly
    assert statuses == [b"HTTP/1.1 202"] * 2 + [b"HTTP/1.1 200"]
    assert [v["order_id"] for v in s.context.values()] == ["o-0", "o-1", "o-2"]


async def test_records_over_max_record_bytes_are_413_naming_the_limit(serve: Serve) -> None:
    assert HttpSourceConfig(name="h", topic=TOPIC).max_record_bytes < 1_048_588  # broker's
    s = await serve(max_record_bytes=400)
    batch = ndjson(good(0), good(1, sku="x" * 400))
    status, body, _ = await s.post(batch, content_type="application/x-ndjson")
    assert status == 413
    assert "max_record_bytes" in body["error"]
    [problem] = body["problems"]
    assert problem["line"] == 2
    assert "the most is 400 (max_record_bytes)" in problem["message"]
    assert s.context.produced == []
    assert (await s.post(json.dumps(good(0)).encode()))[0] == 202


async def test_a_token_is_required_when_configured(serve: Serve) -> None:
    s = await serve(token="s3cret")  # noqa: S106 - a test token
    raw = json.dumps(good()).encode()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        status, _, answered = await s.post(raw, headers=headers)
        assert status == 401
        assert answered["WWW-Authenticate"].startswith("Bearer")
    async with s.session.get(f"{s.url}/topics") as r:
        assert r.status == 401
    async with s.session.get(f"{s.url}/health") as r:
        assert r.status == 200
    status, _, _ = await s.post(raw, headers={"Authorization": "Bearer s3cret"})
    assert status == 202
    assert len(s.context.produced) == 1


async def test_too_many_records_in_flight_is_429_with_retry_after(serve: Serve) -> None:
    s = await serve(max_pending=3, retry_after_s=2)
    s.context.gate = asyncio.Event()
    first = asyncio.create_task(s.post(json.dumps([good(0), good(1)]).encode()))
    await _until(lambda: s.context.calls == 1)
    status, body, headers = await s.post(json.dumps([good(2), good(3)]).encode())
    assert (status, headers["Retry-After"]) == (429, "2")
    assert "max_pending" in body["error"]
    s.context.gate.set()
    assert (await first)[0] == 202
    status, _, _ = await s.post(json.dumps([good(2), good(3)]).encode())
    assert status == 202
    assert [v["order_id"] for v in s.context.values()] == ["o-0", "o-1", "o-2", "o-3"]


async def test_a_transient_kafka_failure_is_503_and_the_next_request_goes_through(
    serve: Serve,
) -> None:
    s = await serve()
    s.context.failure = ProduceError("Kafka did not acknowledge")
    status, body, headers = await s.post(json.dumps(good(0)).encode())
    assert (status, headers["Retry-After"]) == (503, "1")
    assert "send the batch again" in body["error"]
    status, _, _ = await s.post(json.dumps(good(0)).encode())
    assert status == 202
    assert len(s.context.produced) == 1


async def test_a_fatal_kafka_failure_stops_the_source_with_its_error(serve: Serve) -> None:
    s = await serve()
    s.context.failure = ConnectorError("fenced by another worker")
    status, _, _ = await s.post(json.dumps(good(0)).encode())
    assert status == 503
    with pytest.raises(ConnectorError, match="fenced"):
        await asyncio.wait_for(s.task, timeout=30)


async def test_a_bug_is_a_500_and_the_server_keeps_serving(serve: Serve) -> None:
    s = await serve()
    s.context.convert_bug = RuntimeError("a bug")
    status, body, _ = await s.post(json.dumps(good(0)).encode())
    assert status == 500
    assert "internal error" in body["error"]
    s.context.convert_bug = None
    status, _, _ = await s.post(json.dumps(good(0)).encode())
    assert status == 202


async def test_requests_in_flight_finish_when_the_worker_drains(serve: Serve) -> None:
    s = await serve()
    s.context.gate = asyncio.Event()
    posted = asyncio.create_task(
        s.post(ndjson(good(0), good(1)), content_type="application/x-ndjson")
    )
    await _until(lambda: s.context.calls == 1)
    s.context.stopping.set()
    await _until_refused(s.port)
    s.context.gate.set()
    assert (await posted)[0] == 202
    await asyncio.wait_for(s.task, timeout=30)
    assert len(s.context.produced) == 2
    with pytest.raises(aiohttp.ClientConnectionError):
        await s.post(json.dumps(good(2)).encode())


async def test_a_draining_source_answers_503() -> None:
    config = HttpSourceConfig(name="http-test", topic=TOPIC)
    context = FakeContext()
    ingest = Ingest(config, context, Flow(context.produce, 10))
    ingest.closing = True
    request = make_mocked_request("POST", f"/topics/{TOPIC}", match_info={"topic": TOPIC})
    with pytest.raises(Refusal) as caught:
        await ingest.post(request)
    assert (caught.value.status, caught.value.headers["Retry-After"]) == (503, "1")
    health = await ingest.health(make_mocked_request("GET", "/health"))
    assert health.status == 503


async def test_concurrent_small_requests_share_produce_calls(serve: Serve) -> None:
    s = await serve()
    s.context.gate = asyncio.Event()
    first = asyncio.create_task(s.post(json.dumps(good(0)).encode()))
    await _until(lambda: s.context.calls == 1)
    rest = [asyncio.create_task(s.post(json.dumps(good(n)).encode())) for n in range(1, 9)]
    await _until(lambda: s.context.converted == 9)  # all queued behind the first
    s.context.gate.set()
    statuses = [r[0] for r in await asyncio.gather(first, *rest)]
    assert statuses == [202] * 9
    assert sorted(v["order_id"] for v in s.context.values()) == sorted(f"o-{n}" for n in range(9))
    assert s.context.calls < 9


async def _until(condition: Callable[[], bool]) -> None:
    await wait_for(condition, timeout=10, interval=0.01)


async def _until_refused(port: int) -> None:
    async def refused() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return True
        writer.close()
        return False

    await wait_for(refused, timeout=10, interval=0.01, what="the source to stop listening")
