"""The registry's media types, chosen as Confluent's Jersey chooses them, and its JSON bodies.

Confluent answers in ``application/vnd.schemaregistry.v1+json`` unless the ``Accept`` header
prefers ``application/vnd.schemaregistry+json`` or ``application/json``; a header that takes
none of the three is 406. Requests may send any of the three, or ``application/octet-stream``
(what a client that sets no Content-Type is taken to send); anything else is 415.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from streamworks.registry.errors import NotAcceptableError

__all__ = ["CONSUMED", "CONTENT_TYPE", "PRODUCED", "content_negotiation", "json_reply", "negotiate"]

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
PRODUCED = (
    (CONTENT_TYPE, 1.0),
    ("application/vnd.schemaregistry+json", 0.9),
    ("application/json", 0.5),
)
"""The types answered in, with Confluent's own weights for them (its ``qs``), best first."""
CONSUMED = frozenset({*(kind for kind, _ in PRODUCED), "application/octet-stream"})
"""The request Content-Types read as JSON."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """``data`` as compact JSON, as Confluent's Jackson writes it, in the default type."""
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type=CONTENT_TYPE, headers=headers)


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    """The header's (type, subtype, q) ranges; ``*`` and ``*/x`` read as ``*/*``."""
    ranges = []
    for part in accept.split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        if not name:
            continue
        kind, _, subtype = name.lower().partition("/")
        if kind == "*" or not subtype:
            kind, subtype = "*", "*"
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((kind, subtype, q))
    return ranges


def negotiate(accept: str | None) -> str:
    """The type to answer in; NotAcceptableError when the header takes none.

    For each produced type the client's q is that of its most specific matching range; the
    highest q wins, then the registry's own weight. No header, or ``*/*``, gets the v1 type.
    """
    if accept is None or not accept.strip():
        return CONTENT_TYPE
    ranges = _media_ranges(accept)
    best: tuple[float, float, str] | None = None
    for produced, weight in PRODUCED:
        kind, subtype = produced.split("/")
        matches = [
            ((r_kind != "*") + (r_sub != "*"), q)
            for r_kind, r_sub, q in ranges
            if r_kind in ("*", kind) and r_sub in ("*", subtype)
        ]
        q = max(matches)[1] if matches else 0.0
        if q > 0 and (best is None or (q, weight) > best[:2]):
            best = (q, weight, produced)
    if best is None:
        raise NotAcceptableError
    return best[2]


@web.middleware
async def content_negotiation(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer JSON in the type the ``Accept`` header prefers; 406 when it takes none.

    ``/metrics`` is left alone: Prometheus asks for its own text format.
    """
    if request.path == "/metrics":
        return await handler(request)
    try:
        chosen = negotiate(",".join(request.headers.getall("Accept", [])) or None)
    except NotAcceptableError as error:
        return json_reply({"error_code": error.error_code, "message": str(error)}, error.status)
    response = await handler(request)
    if isinstance(response, web.Response) and response.content_type == CONTENT_TYPE:
        response.content_type = chosen
    return response
