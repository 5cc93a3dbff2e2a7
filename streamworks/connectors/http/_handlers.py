"""The request handlers: check, read, parse, convert, produce, and only then answer.

A batch is all-or-nothing: if any record of a request is malformed or does not fit the
topic's schema, the request is answered 400 listing every problem and none of its records
is produced, so the client can fix the batch and send it again without duplicates.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from streamworks.connectors.base.convert import UnknownTopicError
from streamworks.connectors.base.errors import ConversionError
from streamworks.connectors.base.records import SourceRecord
from streamworks.connectors.base.source import SourceContext
from streamworks.connectors.http._answers import Refusal, answer, refusal
from streamworks.connectors.http._connections import unframed
from streamworks.connectors.http._flow import Flow
from streamworks.connectors.http._parsing import Parsed, Problem, parse_json, parse_ndjson
from streamworks.connectors.http.config import HttpSourceConfig
from streamworks.core.errors import StreamworksError
from streamworks.core.messages import OutRecord

__all__ = ["Ingest"]

logger = logging.getLogger(__name__)

_PARSERS: dict[str, Callable[[bytes], Parsed]] = {
    "application/json": parse_json,
    "application/x-ndjson": parse_ndjson,
    "application/jsonl": parse_ndjson,
}
_ACCEPTED = "application/json, application/x-ndjson"
_CHUNK = 256 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Ingest:
    """The HTTP side of one source: its routes, bound to the runtime's context."""

    def __init__(self, config: HttpSourceConfig, context: SourceContext, flow: Flow) -> None:
        self._name = config.name
        self._context = context
        self._flow = flow
        self._topics = config.allowed_topics
        self._limit = config.max_body_bytes
        self._record_limit = config.max_record_bytes
        self._read_timeout = config.read_timeout_s
        self._retry = {"Retry-After": str(config.retry_after_s)}
        self._token = config.token.get_secret_value().encode() if config.token else None
        self.closing = False
        """Set when the worker drains: new requests are answered 503."""
        self.broken = asyncio.Event()
        """Set when producing failed for good (the source must stop); see ``failure``."""
        self.failure: BaseException | None = None

    def application(self) -> web.Application:
        """The aiohttp application serving this source."""
        app = web.Application(middlewares=[self._guard], client_max_size=self._limit)
        app.router.add_get("/health", self.health)
        app.router.add_get("/topics", self.topics)
        app.router.add_post("/topics/{topic}", self.post)
        return app

    # -- routes ---------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        """200 while serving, 503 while draining (so a balancer stops sending here)."""
        if self.closing or self.broken.is_set():
            return answer(503, {"status": "stopping"}, self._retry)
        return answer(200, {"status": "ok"})

    async def topics(self, request: web.Request) -> web.Response:
        """The topics clients may post to."""
        return answer(200, {"topics": list(self._topics)})

    async def post(self, request: web.Request) -> web.Response:
        """``POST /topics/{topic}``: accept a batch whole (202) or refuse it whole."""
        topic = request.match_info["topic"]
        if self.closing or self.broken.is_set():
            raise Refusal(503, "the source is stopping; send again later", headers=self._retry)
        if topic not in self._topics:
            raise Refusal(404, f"topic {topic} is not open here; post to one of {self._topics}")
        parse = _PARSERS.get(request.content_type)
        if parse is None or (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
            raise Refusal(
                415,
                f"content type {request.headers.get('Content-Type', '(none)')} is not accepted; "
                f"send UTF-8 {_ACCEPTED}",
                headers={"Accept-Post": _ACCEPTED},
            )
        if self._flow.full:
            raise Refusal(429, self._busy(), headers=self._retry)
        parsed = parse(await self._body(request))
        count = len(parsed.records)
        if not parsed.problems and not count:
            raise Refusal(400, "the body holds no records")
        if not self._flow.admit(count):
            raise Refusal(429, self._busy(), headers=self._retry)
        try:
            records = await self._convert(topic, parsed)
            await self._produce(records)
        finally:
            self._flow.release(count)
        return answer(202, {"accepted": count, "topic": topic})

    # -- steps ----------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> bytes:
        """The body: 411 without framing, 413 once too large, 408 if it stalls."""
        length = request.content_length
        if _unframed(request):
            raise Refusal(411, "send a Content-Length header (or a chunked body)")
        if length is not None and length > self._limit:
            raise Refusal(413, self._too_large(length))
        chunks: list[bytes] = []
        size = 0
        content = request.content
        try:
            while True:
                chunk = content.read_nowait(_CHUNK)  # what has arrived: no timer (~5 µs) needed
                if not chunk and not content.at_eof():
                    async with asyncio.timeout(self._read_timeout):
                        chunk = await content.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > self._limit:
                    raise Refusal(413, self._too_large(size))
                chunks.append(chunk)
        except TimeoutError:
            message = (
                f"the body stalled after {size} bytes: nothing came for {self._read_timeout} s "
                "(read_timeout_s); send the whole body promptly"
            )
            raise Refusal(408, message, close=True) from None
        except (ConnectionResetError, HttpProcessingError) as error:
            raise Refusal(400, f"the body was cut short or badly framed ({error})") from None
        return b"".join(chunks)

    async def _convert(self, topic: str, parsed: Parsed) -> list[OutRecord]:
        """Every record converted to the topic's schema, or a refusal naming each bad one."""
        convert = self._context.convert
        location = parsed.location
        out: list[OutRecord] = []
        problems: list[Problem] = list(parsed.problems)
        oversize: list[Problem] = []
        for at, value in parsed.records:
            try:
                record = await convert(SourceRecord(topic, value, location=location(at)))
            except UnknownTopicError as error:
                raise Refusal(404, str(error)) from None
            except ConversionError as error:
                problems.append(parsed.problem(at, str(error), error.field))
                continue
            except StreamworksError as error:
                if not error.retriable:
                    raise
                raise Refusal(503, f"{error}; send again later", headers=self._retry) from None
            size = _encoded_size(record)
            if size > self._record_limit:
                message = (
                    f"the record is {size} bytes encoded (key, value and headers); the most "
                    f"is {self._record_limit} (max_record_bytes)"
                )
                oversize.append(parsed.problem(at, message))
            out.append(record)
        if problems:
            problems.sort(key=_position)
            raise Refusal(
                400,
                f"{len(problems)} of the records cannot be accepted; none was (fix and resend "
                "the whole batch)",
                problems=problems,
            )
        if oversize:
            raise Refusal(
                413,
                f"records over {self._record_limit} bytes (max_record_bytes, kept under the "
                "broker's max.message.bytes); none was accepted",
                problems=oversize,
            )
        return out

    async def _produce(self, records: list[OutRecord]) -> None:
        try:
            await self._flow.commit(records)
        except StreamworksError as error:
            if error.retriable:
                logger.warning("connector %s: %s", self._name, error)
                raise Refusal(
                    503,
                    "Kafka did not acknowledge the records; some may be stored, send the "
                    "batch again later",
                    headers=self._retry,
                ) from None
            self.failure = error
            self.broken.set()
            raise Refusal(503, "the source failed and is stopping", headers=self._retry) from None

    # -- middleware -----------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Bearer auth, JSON answers for refusals, and closing after an unreadable request."""
        response = await self._answer(request, handler)
        if _unframed(request):  # the parser stopped reading this connection; see _connections
            await _lingering_close(request, response, self._read_timeout)
        return response

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The handler's answer; 500 only for this code's own bugs."""
        try:
            if self._token is not None and request.path != "/health":
                self._authorise(request)
            return await handler(request)
        except Refusal as error:
            logger.debug("connector %s: %d %s", self._name, error.status, error.message)
            if error.close:
                return await _closing(request, refusal(error))
            return refusal(error)
        except web.HTTPException as error:  # the router's 404 and 405
            allow = {k: v for k, v in error.headers.items() if k.lower() == "allow"}
            return answer(error.status, {"error": error.reason}, allow)
        except Exception:
            logger.exception("connector %s: %s %s failed", self._name, request.method, request.path)
            return answer(500, {"error": "internal error; see the connector's log"})

    def _authorise(self, request: web.Request) -> None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        token = given.strip().encode(errors="backslashreplace")
        if scheme.lower() == "bearer" and self._token and hmac.compare_digest(token, self._token):
            return
        challenge = 'Bearer realm="streamworks"'
        if scheme:
            challenge += ', error="invalid_token"'
        raise Refusal(
            401,
            "missing or wrong bearer token; send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": challenge},
        )

    def _busy(self) -> str:
        return f"{self._flow.pending} records are in flight (the most is set by max_pending)"

    def _too_large(self, size: int) -> str:
        return f"the body has {size} bytes or more; the most is {self._limit} (max_body_bytes)"


def _unframed(request: web.BaseRequest) -> bool:
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    return unframed(request.method, request.content_length is not None, chunked)


async def _closing(request: web.BaseRequest, response: web.StreamResponse) -> web.StreamResponse:
    """Send ``response`` and close the connection at once, without reading what is left.

    aiohttp would otherwise linger, reading a body that is not coming, for up to 10 s.
    """
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response


async def _lingering_close(
    request: web.BaseRequest, response: web.StreamResponse, timeout_s: float
) -> None:
    """Send ``response``, end the sending side, and close once the client has (or later).

    What the client still sends is read and dropped meanwhile: closing a socket with unread
    bytes makes the kernel reset the connection, and the client may then never see the answer.
    """
    response.headers["Connection"] = "close"
    await response.prepare(request)
    await response.write_eof()
    transport = request.transport
    if transport is None:
        return
    if transport.can_write_eof():
        transport.write_eof()  # the client reads the answer, then end of stream, and closes
    asyncio.get_running_loop().call_later(timeout_s, transport.close)


def _encoded_size(record: OutRecord) -> int:
    """Bytes of a record as the broker counts them, less the batch overhead."""
    headers = sum(len(name.encode()) + len(value) for name, value in record.headers)
    return len(record.key or b"") + len(record.value or b"") + headers


def _position(problem: Problem) -> int:
    found = problem.index if problem.index is not None else problem.line
    return -1 if found is None else found
