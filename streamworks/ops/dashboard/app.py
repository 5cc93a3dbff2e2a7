"""The dashboard's web application: one page, its script and style, and two JSON routes.

``GET /`` is the page, ``GET /static/...`` its files (all served from this package: the
page loads nothing from the internet), ``GET /api/graph`` the pipeline's graph and
``GET /api/status`` the live figures.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from streamworks.ops.dashboard.graph import Graph
from streamworks.ops.dashboard.live import LiveStatus
from streamworks.ops.status import StatusError

__all__ = ["GRAPH", "LIVE", "STATIC", "build_app"]

STATIC = Path(__file__).parent / "static"
"""The page, its script and its style."""

GRAPH = web.AppKey("graph", Graph)
"""The app's pipeline graph."""
LIVE = web.AppKey("live", LiveStatus)
"""The app's live status."""

_NO_CACHE = {"Cache-Control": "no-store"}


def build_app(graph: Graph, live: LiveStatus) -> web.Application:
    """The dashboard for ``graph``, its figures from ``live`` (closed with the app)."""
    app = web.Application()
    app[GRAPH] = graph
    app[LIVE] = live
    app.router.add_get("/", _page)
    app.router.add_get("/api/graph", _graph)
    app.router.add_get("/api/status", _status)
    app.router.add_static("/static/", STATIC)
    app.on_cleanup.append(_close)
    return app


async def _page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=_NO_CACHE)


async def _graph(request: web.Request) -> web.Response:
    return web.json_response(request.app[GRAPH].as_data(), headers=_NO_CACHE)


async def _status(request: web.Request) -> web.Response:
    try:
        data = await request.app[LIVE].current()
    except StatusError as error:
        return web.json_response({"error": str(error)}, status=503, headers=_NO_CACHE)
    return web.json_response(data, headers=_NO_CACHE)


async def _close(app: web.Application) -> None:
    await app[LIVE].close()
