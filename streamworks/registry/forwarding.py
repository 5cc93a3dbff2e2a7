"""Relaying write requests from a secondary instance to the primary over HTTP.

A forwarded request carries :data:`FORWARDED_HEADER` so the receiver never forwards it
again (it answers 50003 if it is not the primary, and the sender retries). The primary's
answer carries :data:`OFFSET_HEADER`, the log offset after its records, so the sender can
wait until its own reader has applied them before answering: a client that writes through
any instance then reads its write back from that instance.

A forwarded write carries the caller's own ``Authorization`` header, and the primary checks
it again: the header that stops re-forwarding grants nothing, so an instance reachable by
anyone cannot be used to write as someone else.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from dataclasses import dataclass, field

import aiohttp

from streamworks.registry.errors import ForwardingError

__all__ = ["FORWARDED_HEADER", "OFFSET_HEADER", "Forwarder", "WriteOutcome", "WriteRequest"]

FORWARDED_HEADER = "X-Streamworks-Forwarded-By"
OFFSET_HEADER = "X-Streamworks-Log-Offset"
_FORWARDING_FAILED = 50003
_SERVER_ERROR = 500


@dataclass(frozen=True)
class WriteRequest:
    """A write as received, so it can be sent on unchanged."""

    method: str
    """HTTP method."""
    path_qs: str
    """Path with the query string, e.g. ``/subjects/x/versions?normalize=false``."""
    body: bytes
    """The raw body."""
    content_type: str
    """The request's Content-Type."""
    authorization: str | None = field(default=None, repr=False)
    """The caller's ``Authorization`` header, sent on as it came (kept out of reprs)."""


@dataclass(frozen=True)
class WriteOutcome:
    """The answer to a write: status, JSON body, and the log offset that holds it."""

    status: int
    """HTTP status to answer with."""
    body: bytes
    """JSON body to answer with."""
    offset: int | None
    """Log offset after the write's records (None when the answer is an error)."""


class Forwarder:
    """Sends writes to the primary with one shared HTTP session."""

    def __init__(self, instance: str, timeout: float, tls: ssl.SSLContext | None = None) -> None:
        self._instance = instance
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._tls: ssl.SSLContext | bool = tls if tls is not None else True
        self._session: aiohttp.ClientSession | None = None

    async def send(self, primary_url: str, request: WriteRequest) -> WriteOutcome:
        """The primary's answer; ForwardingError when it cannot be reached or is not primary."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = primary_url.rstrip("/") + request.path_qs
        headers = {"Content-Type": request.content_type, FORWARDED_HEADER: self._instance}
        if request.authorization is not None:
            headers["Authorization"] = request.authorization
        try:
            async with self._session.request(
                request.method, url, data=request.body, headers=headers, ssl=self._tls
            ) as response:
                body = await response.read()
                status = response.status
                offset_text = response.headers.get(OFFSET_HEADER)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ForwardingError(
                f"cannot forward {request.method} {request.path_qs} to the primary at "
                f"{primary_url}: {error or type(error).__name__}"
            ) from error
        if status >= _SERVER_ERROR and _error_code(body) == _FORWARDING_FAILED:
            raise ForwardingError(
                f"the instance at {primary_url} could not take {request.method} "
                f"{request.path_qs}: {_message(body)}"
            )
        return WriteOutcome(status, body, int(offset_text) if offset_text else None)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _error_code(body: bytes) -> int | None:
    with contextlib.suppress(ValueError, AttributeError):
        code = json.loads(body).get("error_code")
        return int(code) if code is not None else None
    return None


def _message(body: bytes) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(body).get("message"))
    return body[:200].decode(errors="replace")
