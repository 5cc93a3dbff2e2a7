"""The HTTP answers of the ingest source: JSON bodies, one helper per kind of refusal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from streamworks.connectors.http._parsing import Problem, dumps

__all__ = ["Refusal", "answer", "refusal", "timeout_answer"]


class Refusal(Exception):
    """Raised inside a handler to answer with an error status; becomes a JSON answer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        problems: Sequence[Problem] = (),
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems
        self.headers = dict(headers or {})
        self.close = close
        """Close the connection after the answer (the rest of the request is unreadable)."""


def answer(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer."""
    return web.Response(
        status=status, body=dumps(body), content_type="application/json", headers=headers
    )


_SHOWN_PROBLEMS = 100
"""A 400 lists at most this many problems (and says how many there were)."""


def refusal(error: Refusal) -> web.Response:
    """The JSON answer of a refusal: ``{"error": ..., "problems": [...]}``."""
    body: dict[str, Any] = {"error": error.message}
    if error.problems:
        body["problems"] = [p.to_json() for p in error.problems[:_SHOWN_PROBLEMS]]
        body["problem_count"] = len(error.problems)
    return answer(error.status, body, error.headers)


def timeout_answer(message: str) -> bytes:
    """A whole ``408`` answer as bytes, for a connection no request was parsed from yet."""
    body = dumps({"error": message})
    head = (
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
