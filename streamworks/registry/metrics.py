"""Prometheus figures of the registry's REST API, served at its own ``GET /metrics``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import Counter, Histogram

__all__ = ["REQUESTS", "REQUEST_SECONDS", "count_requests"]

REQUESTS = Counter(
    "streamworks_registry_requests",
    "Requests answered by the schema registry, by method, route and status.",
    ("method", "route", "status"),
)
REQUEST_SECONDS = Histogram(
    "streamworks_registry_request_seconds",
    "Time to answer one registry request, by method and route.",
    ("method", "route"),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route(request: web.Request) -> str:
    """The route's pattern (``/subjects/{subject}/versions``), so labels stay few."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every answer by route and status, and time it."""
    began = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
    except web.HTTPException as error:
        status = error.status
        raise
    else:
        status = response.status
    finally:
        route = _route(request)
        REQUESTS.labels(request.method, route, str(status)).inc()
        REQUEST_SECONDS.labels(request.method, route).observe(time.perf_counter() - began)
    return response
