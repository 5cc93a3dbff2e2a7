"""A corpus of bad requests: each is refused with its 4xx, none is a 500, nothing leaks in.

The corpus is shared with the integration test, which sends it to a source on real Kafka.
Records follow the raw-order contract (``orders.raw``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tests.unit.connectors.test_http_source import TOPIC, Serve, good, serving

TOKEN = "corpus-token"  # noqa: S105 - a test token
LIMIT = 64 * 1024
"""max_body_bytes of the source the corpus is sent to."""
_AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Bad:
    """One bad request and the status it must get."""

    name: str
    status: int
    body: bytes
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=lambda: dict(_AUTH))
    topic: str | None = None
    """None: the source's topic."""


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _lines(*values: Any) -> bytes:
    return b"\n".join(json.dumps(v).encode() for v in values) + b"\n"


NDJSON = "application/x-ndjson"
BAD_REQUESTS: tuple[Bad, ...] = (
    Bad("malformed JSON", 400, b'{"order_id": "x", '),
    Bad("trailing garbage", 400, _json(good(0)) + b" }"),
    Bad("a number where text belongs", 400, _json(good(1, quantity=3))),
    Bad("a required field missing", 400, _json({"order_id": "x", "source": "http"})),
    Bad("null for a required field", 400, _json(good(2, source=None))),
    Bad("an unknown field", 400, _json(good(3, colour="red"))),
    Bad("a bad time", 400, _json(good(4, received_at="yesterday-ish"))),
    Bad("a good batch with one bad record", 400, _json([good(5), good(6, sku=["x"])])),
    Bad("an array of non-objects", 400, b"[1, 2, 3]"),
    Bad("a bare string", 400, b'"orders"'),
    Bad("an empty body", 400, b""),
    Bad("an empty array", 400, b"[]"),
    Bad("whitespace only", 400, b" \n\t "),
    Bad("truncated NDJSON", 400, _lines(good(7)) + b'{"order_id": "o-8", "sou', NDJSON),
    Bad("an array line in NDJSON", 400, _lines(good(9), [good(10)]), NDJSON),
    Bad("NDJSON sent as JSON", 400, _lines(good(11), good(12))),
    Bad("a float too large", 400, b'{"order_id": "x", "source": "h", "received_at": 1e400}'),
    Bad("a huge integer", 400, _json(good(13, received_at=10**30))),
    Bad("an integer past 64 bits", 400, _json(good(14, received_at=2**64 + 1))),
    Bad("a time past year 9999", 400, _json(good(15, received_at=2**62))),
    Bad("invalid UTF-8", 400, b'{"order_id": "\xff\xfe", "source": "h", "received_at": 0}'),
    Bad("UTF-16 text", 400, _json(good(16)).decode().encode("utf-16")),
    Bad("NUL bytes", 400, b"\x00\x01\x02"),
    Bad("NaN", 400, b'{"order_id": "x", "source": "h", "received_at": NaN}'),
    Bad("deep nesting", 400, b"[" * 20_000 + b"]" * 20_000, NDJSON),
    Bad("nested garbage", 400, _json(good(17, order_id={"a": [1, {"b": None}]}))),
    Bad("a list for a record", 400, _json([[good(18)]])),
    Bad("too large by Content-Length", 413, _json([good(n) for n in range(1_000)])),
    Bad(
        "too large by Content-Length (NDJSON)",
        413,
        _lines(*[good(n) for n in range(1_000)]),
        NDJSON,
    ),
    Bad("text/plain", 415, _json(good(19)), "text/plain"),
    Bad("no content type", 415, _json(good(20)), None),
    Bad("form data", 415, b"order_id=x", "application/x-www-form-urlencoded"),
    Bad("latin-1 JSON", 415, _json(good(21)), "application/json; charset=latin-1"),
    Bad("no token", 401, _json(good(22)), headers={}),
    Bad("a wrong token", 401, _json(good(23)), headers={"Authorization": "Bearer nope"}),
    Bad("a basic token", 401, _json(good(24)), headers={"Authorization": f"Basic {TOKEN}"}),
    Bad("an empty bearer", 401, _json(good(25)), headers={"Authorization": "Bearer "}),
    Bad("a topic not open", 404, _json(good(26)), topic="not-open-here"),
    Bad("a path traversal", 404, _json(good(27)), topic="..%2F..%2Fetc"),
)
"""Every request here must be answered with its status and leave nothing in Kafka."""


async def send_corpus(
    session: aiohttp.ClientSession, base_url: str, topic: str, corpus: Sequence[Bad]
) -> list[tuple[str, int, int]]:
    """Send each bad request; return ``(name, expected, got)`` for the ones answered wrong."""
    wrong = []
    for bad in corpus:
        headers = dict(bad.headers)
        if bad.content_type is not None:
            headers["Content-Type"] = bad.content_type
        url = f"{base_url}/topics/{bad.topic or topic}"
        async with session.post(url, data=bad.body, headers=headers) as answer:
            if answer.status != bad.status:
                wrong.append((bad.name, bad.status, answer.status))
            else:
                assert (await answer.json())["error"]
    return wrong


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start HTTP sources with fake runtimes for one test."""
    async with serving() as start:
        yield start


async def test_every_bad_request_gets_its_4xx_and_nothing_is_produced(serve: Serve) -> None:
    s = await serve(token=TOKEN, max_body_bytes=LIMIT)
    assert await send_corpus(s.session, s.url, TOPIC, BAD_REQUESTS) == []
    assert s.context.produced == []
    status, _, _ = await s.post(_json(good(99)), headers=_AUTH)
    assert status == 202
    assert [v["order_id"] for v in s.context.values()] == ["o-99"]
