"""The Confluent Schema Registry REST API (Avro only) on aiohttp.

Reads are answered from the instance's own state; writes go through
:meth:`RegistryService.write`, which runs them on the primary. Every error is Confluent's
``{"error_code": N, "message": "..."}`` with its HTTP status, never a stack trace.

With a users file (:mod:`streamworks.registry.auth`) every handler sees only the subjects the
caller's patterns match: any other subject, and any schema id only such subjects use,
answers exactly as if it did not exist. Writes need the read-write role (403 otherwise).
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Middleware

from streamworks.registry import reads, writes
from streamworks.registry.auth import REALM, authentication
from streamworks.registry.errors import RegistryApiError, UnauthorizedError
from streamworks.registry.incoming import SERVICE, Handler, Instance
from streamworks.registry.media import (
    CONTENT_TYPE,
    content_negotiation,
    json_reply,
)
from streamworks.registry.metrics import count_requests
from streamworks.runtime.metrics import metrics_response

__all__ = ["CONTENT_TYPE", "Instance", "build_app"]

logger = logging.getLogger(__name__)

# Any character but a slash, which a subject may hold URL-encoded as %2F (aiohttp matches
# on the path with %2F still encoded and decodes the parameter); the default pattern also
# refuses the braces some subjects have.
_SUBJECT = "{subject:[^/]+}"
_VERSION = "{version:[^/]+}"


def build_app(service: Instance) -> web.Application:
    """The aiohttp application answering for ``service`` (and its ``/metrics``)."""
    middlewares: list[Middleware] = [
        _remember_connection,
        count_requests,
        content_negotiation,
        _errors,
    ]
    if service.authenticator is not None:
        middlewares.append(authentication(service.authenticator))
    app = web.Application(middlewares=middlewares)
    app[SERVICE] = service
    r = app.router
    r.add_get("/metrics", _metrics)
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "", reads.root),
        ("GET", "/schemas", reads.schemas),
        ("GET", "/schemas/types", reads.types),
        ("GET", "/mode", reads.get_mode),
        ("PUT", "/mode", writes.put_mode),
        ("GET", f"/mode/{_SUBJECT}", reads.get_mode),
        ("PUT", f"/mode/{_SUBJECT}", writes.put_mode),
        ("DELETE", f"/mode/{_SUBJECT}", writes.delete_mode),
        ("GET", "/subjects", reads.subjects),
        ("GET", f"/subjects/{_SUBJECT}/versions", reads.versions),
        ("POST", f"/subjects/{_SUBJECT}/versions", writes.register),
        ("GET", f"/subjects/{_SUBJECT}/versions/{_VERSION}", reads.version),
        ("GET", f"/subjects/{_SUBJECT}/versions/{_VERSION}/schema", reads.version_schema),
        ("GET", f"/subjects/{_SUBJECT}/versions/{_VERSION}/referencedby", reads.referenced_by),
        ("DELETE", f"/subjects/{_SUBJECT}/versions/{_VERSION}", writes.delete_version),
        ("POST", f"/subjects/{_SUBJECT}", reads.lookup),
        ("DELETE", f"/subjects/{_SUBJECT}", writes.delete_subject),
        ("GET", "/schemas/ids/{id}", reads.by_id),
        ("GET", "/schemas/ids/{id}/schema", reads.by_id_schema),
        ("GET", "/schemas/ids/{id}/subjects", reads.id_subjects),
        ("GET", "/schemas/ids/{id}/versions", reads.id_versions),
        ("GET", "/config", reads.get_config),
        ("PUT", "/config", writes.put_config),
        ("DELETE", "/config", writes.delete_config),
        ("GET", f"/config/{_SUBJECT}", reads.get_config),
        ("PUT", f"/config/{_SUBJECT}", writes.put_config),
        ("DELETE", f"/config/{_SUBJECT}", writes.delete_config),
        ("POST", f"/compatibility/subjects/{_SUBJECT}/versions/{_VERSION}", reads.compatibility),
        ("POST", f"/compatibility/subjects/{_SUBJECT}/versions", reads.compatibility),
    ]
    for method, path, handler in routes:
        # Confluent (Jersey) answers a path with or without a trailing slash alike
        for variant in dict.fromkeys((path or "/", f"{path}/")):
            r.add_route(method, variant, handler)
    return app


# -- plumbing -------------------------------------------------------------------------------


_reply = json_reply


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return _reply({"error_code": code, "message": message}, status=status, headers=headers)


@web.middleware
async def _remember_connection(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.transport is not None:
        request.app[SERVICE].connections.add(request.transport)
    return await handler(request)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except UnauthorizedError as error:
        headers = {"WWW-Authenticate": REALM}
        return _error(error.status, error.error_code, str(error), headers)
    except RegistryApiError as error:
        return _error(error.status, error.error_code, str(error))
    except web.HTTPException as error:
        if error.status < 400:  # noqa: PLR2004 - redirects pass through
            raise
        return _error(error.status, error.status, f"HTTP {error.status} {error.reason}")
    except Exception:
        logger.exception("unexpected error answering %s %s", request.method, request.path)
        return _error(500, 50001, f"internal error answering {request.method} {request.path}")


async def _metrics(request: web.Request) -> web.Response:
    return metrics_response()
