"""The Confluent Schema Registry REST API (Avro only) on aiohttp.

Reads are answered from the instance's own state; writes go through
:meth:`RegistryService.write`, which runs them on the primary. Every error is Confluent's
``{"error_code": N, "message": "..."}`` with its HTTP status, never a stack trace.

With a users file (:mod:`streamworks.registry.auth`) every handler sees only the subjects the
caller's patterns match: any other subject, and any schema id only such subjects use,
answers exactly as if it did not exist. Writes need the read-write role (403 otherwise).
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from streamworks.registry import commands
from streamworks.registry.auth import REALM, Authenticator, authentication, caller
from streamworks.registry.errors import (
    BadRequestError,
    ForbiddenError,
    RegistryApiError,
    SchemaIdNotFoundError,
    SubjectConfigNotFoundError,
    SubjectNotFoundError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from streamworks.registry.forwarding import (
    FORWARDED_HEADER,
    OFFSET_HEADER,
    WriteOutcome,
    WriteRequest,
)
from streamworks.registry.metrics import count_requests
from streamworks.registry.records import SchemaRecord
from streamworks.registry.state import RegistryState, parse_version
from streamworks.runtime.metrics import metrics_response

__all__ = ["CONTENT_TYPE", "Instance", "build_app"]

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_ACCEPTED_TYPES = {
    CONTENT_TYPE,
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",  # what aiohttp reports when no Content-Type was sent
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Instance(Protocol):
    """What the API needs of the registry instance it answers for.

    :class:`~streamworks.registry.service.RegistryService` is one; the service starts the
    API, so the API names only this, not the service.
    """

    @property
    def authenticator(self) -> Authenticator | None:
        """Checks logins against the users file; None when the registry is open."""
        ...

    @property
    def state(self) -> RegistryState:
        """The subjects and schemas, read from the log."""
        ...

    @property
    def connections(self) -> weakref.WeakSet[asyncio.Transport]:
        """The transports of the requests served; each request adds its own."""
        ...

    async def write(
        self,
        command: Callable[[RegistryState], commands.Plan[Any]],
        request: WriteRequest,
        *,
        forwarded: bool,
    ) -> WriteOutcome:
        """Run a write on the primary (here or forwarded) and answer it."""
        ...


_SERVICE: web.AppKey[Instance] = web.AppKey("registry_service")


def build_app(service: Instance) -> web.Application:
    """The aiohttp application answering for ``service`` (and its ``/metrics``)."""
    middlewares: list[Middleware] = [_remember_connection, count_requests, _errors]
    if service.authenticator is not None:
        middlewares.append(authentication(service.authenticator))
    app = web.Application(middlewares=middlewares)
    app[_SERVICE] = service
    r = app.router
    r.add_get("/", _root)
    r.add_get("/metrics", _metrics)
    r.add_get("/schemas/types", _types)
    r.add_get("/mode", _mode)
    r.add_get("/mode/{subject}", _mode)
    for path in ("/subjects", "/subjects/"):
        r.add_get(path, _subjects)
    r.add_get("/subjects/{subject}/versions", _versions)
    r.add_post("/subjects/{subject}/versions", _register)
    r.add_get("/subjects/{subject}/versions/{version}", _version)
    r.add_get("/subjects/{subject}/versions/{version}/schema", _version_schema)
    r.add_get("/subjects/{subject}/versions/{version}/referencedby", _referenced_by)
    r.add_delete("/subjects/{subject}/versions/{version}", _delete_version)
    r.add_post("/subjects/{subject}", _lookup)
    r.add_delete("/subjects/{subject}", _delete_subject)
    r.add_get("/schemas/ids/{id}", _by_id)
    r.add_get("/schemas/ids/{id}/schema", _by_id_schema)
    r.add_get("/schemas/ids/{id}/subjects", _id_subjects)
    r.add_get("/schemas/ids/{id}/versions", _id_versions)
    for path in ("/config", "/config/"):
        r.add_get(path, _get_config)
        r.add_put(path, _put_config)
        r.add_delete(path, _delete_config)
    r.add_get("/config/{subject}", _get_config)
    r.add_put("/config/{subject}", _put_config)
    r.add_delete("/config/{subject}", _delete_config)
    r.add_post("/compatibility/subjects/{subject}/versions/{version}", _compatibility)
    r.add_post("/compatibility/subjects/{subject}/versions", _compatibility)
    return app


# -- plumbing -------------------------------------------------------------------------------


def _reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type=CONTENT_TYPE, headers=headers
    )


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return _reply({"error_code": code, "message": message}, status=status, headers=headers)


@web.middleware
async def _remember_connection(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.transport is not None:
        request.app[_SERVICE].connections.add(request.transport)
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


def _state(request: web.Request) -> RegistryState:
    return request.app[_SERVICE].state


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() == "true"


def _page(request: web.Request, items: list[Any]) -> list[Any]:
    try:
        offset = max(0, int(request.query.get("offset", "0")))
        limit = int(request.query.get("limit", "-1"))
    except ValueError:
        raise BadRequestError("offset and limit must be integers") from None
    items = items[offset:]
    return items if limit < 0 else items[:limit]


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type not in _ACCEPTED_TYPES:
        raise UnsupportedMediaTypeError(
            f"content type {request.content_type} is not supported; send {CONTENT_TYPE}"
        )
    raw = await request.read()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as error:
        raise BadRequestError(f"the request body is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise BadRequestError("the request body must be a JSON object")
    return data


def _sees(request: web.Request, subject: str) -> bool:
    user = caller(request)
    return user is None or user.sees(subject)


def _subject(request: web.Request) -> str:
    """The subject of the path; one the caller may not see answers as a missing one."""
    subject = request.match_info["subject"]
    if not _sees(request, subject):
        raise SubjectNotFoundError(f"subject '{subject}' not found")
    return subject


def _check_write(request: web.Request, subject: str | None) -> None:
    """ForbiddenError unless the caller may write ``subject`` (None: the global config).

    Decided from the caller's role and patterns alone, never from what exists, so a 403
    tells nothing about other users' subjects.
    """
    user = caller(request)
    if user is None:
        return
    if not user.may_write:
        reason = "its role is read-only (writes need read-write)"
    elif subject is None and not user.sees_everything:
        reason = "the global config needs the subjects pattern *"
    elif subject is not None and not user.sees(subject):
        reason = f"subject '{subject}' is outside its subjects patterns"
    else:
        return
    raise ForbiddenError(f"user {user.name} may not {request.method} {request.path}: {reason}")


def _schema_id(request: web.Request) -> int:
    text = request.match_info["id"]
    try:
        return int(text)
    except ValueError:
        raise SchemaIdNotFoundError(f"schema id {text!r} not found") from None


def _visible_id(request: web.Request) -> int:
    """The path's schema id if a subject the caller sees uses it; else as a missing id."""
    schema_id = _schema_id(request)
    if not any(_sees(request, r.subject) for r in _state(request).usages(schema_id, deleted=True)):
        raise SchemaIdNotFoundError(f"schema id {schema_id} not found")
    return schema_id


def _visible_usages(request: web.Request) -> list[SchemaRecord]:
    usages = _state(request).usages(_visible_id(request), deleted=_flag(request, "deleted"))
    return [record for record in usages if _sees(request, record.subject)]


async def _write(
    request: web.Request, command: Callable[[RegistryState], commands.Plan[Any]]
) -> web.Response:
    service = request.app[_SERVICE]
    write = WriteRequest(
        request.method,
        request.path_qs,
        await request.read(),
        request.headers.get("Content-Type", CONTENT_TYPE),
        # the primary checks the same login again (every instance reads the same users file)
        request.headers.get("Authorization"),
    )
    outcome = await service.write(command, write, forwarded=FORWARDED_HEADER in request.headers)
    headers = {OFFSET_HEADER: str(outcome.offset)} if outcome.offset is not None else None
    return web.Response(
        body=outcome.body, status=outcome.status, content_type=CONTENT_TYPE, headers=headers
    )


def _version_json(record: Any) -> dict[str, Any]:
    return {
        "subject": record.subject,
        "version": record.version,
        "id": record.schema_id,
        "schema": record.schema,
    }


def _raw_schema(text: str) -> web.Response:
    return web.Response(text=text, content_type=CONTENT_TYPE)


# -- read handlers ----------------------------------------------------------------------------


async def _root(request: web.Request) -> web.Response:
    return _reply({})


async def _types(request: web.Request) -> web.Response:
    return _reply(list(commands.SCHEMA_TYPES))


async def _mode(request: web.Request) -> web.Response:
    return _reply({"mode": "READWRITE"})


async def _subjects(request: web.Request) -> web.Response:
    state = _state(request)
    prefix = request.query.get("subject", "")
    if _flag(request, "deleted_only"):
        live = set(state.subjects())
        names = [s for s in state.subjects(deleted=True) if s not in live]
    else:
        names = state.subjects(deleted=_flag(request, "deleted"))
    visible = [name for name in names if name.startswith(prefix) and _sees(request, name)]
    return _reply(_page(request, visible))


async def _versions(request: web.Request) -> web.Response:
    subject = _subject(request)
    versions = _state(request).versions(subject, deleted=_flag(request, "deleted"))
    if not versions:
        raise SubjectNotFoundError(f"subject '{subject}' not found")
    return _reply(_page(request, [record.version for record in versions]))


async def _version(request: web.Request) -> web.Response:
    spec = parse_version(request.match_info["version"])
    record = _state(request).version(_subject(request), spec, deleted=_flag(request, "deleted"))
    return _reply(_version_json(record))


async def _version_schema(request: web.Request) -> web.Response:
    spec = parse_version(request.match_info["version"])
    record = _state(request).version(_subject(request), spec, deleted=_flag(request, "deleted"))
    return _raw_schema(record.schema)


async def _referenced_by(request: web.Request) -> web.Response:
    spec = parse_version(request.match_info["version"])
    _state(request).version(_subject(request), spec)
    return _reply([])  # references are not supported, so nothing refers to anything


async def _lookup(request: web.Request) -> web.Response:
    body = await _body(request)
    canonical = commands.validate_schema(
        body.get("schema"), body.get("schemaType"), body.get("references")
    )
    found = commands.lookup(
        _state(request), _subject(request), canonical, deleted=_flag(request, "deleted")
    )
    return _reply(found)


async def _by_id(request: web.Request) -> web.Response:
    return _reply({"schema": _state(request).schema(_visible_id(request))})


async def _by_id_schema(request: web.Request) -> web.Response:
    return _raw_schema(_state(request).schema(_visible_id(request)))


async def _id_subjects(request: web.Request) -> web.Response:
    usages = _visible_usages(request)
    return _reply(_page(request, sorted({record.subject for record in usages})))


async def _id_versions(request: web.Request) -> web.Response:
    usages = _visible_usages(request)
    pairs = [{"subject": record.subject, "version": record.version} for record in usages]
    return _reply(_page(request, pairs))


async def _get_config(request: web.Request) -> web.Response:
    state = _state(request)
    subject = request.match_info.get("subject")
    if subject is None:
        return _reply({"compatibilityLevel": state.effective_level(None)})
    level = state.level(subject) if _sees(request, subject) else None
    if level is None:
        if not _flag(request, "defaultToGlobal"):
            raise SubjectConfigNotFoundError(
                f"subject '{subject}' has no compatibility level of its own; "
                "ask with defaultToGlobal=true for the one that applies"
            )
        level = state.effective_level(None)
    return _reply({"compatibilityLevel": level})


async def _compatibility(request: web.Request) -> web.Response:
    state = _state(request)
    subject = request.match_info["subject"]
    body = await _body(request)
    canonical = commands.validate_schema(
        body.get("schema"), body.get("schemaType"), body.get("references")
    )
    text = request.match_info.get("version")
    # a subject the caller may not see is checked as an empty one, as if it did not exist
    visible = state.versions(subject) if _sees(request, subject) else []
    if text is None:
        against = visible
    else:
        spec = parse_version(text)
        if spec == "latest" and not visible:
            against = []
        else:
            against = [state.version(_subject(request), spec)]
    problems = commands.compatibility_problems(state, subject, canonical, against)
    answer: dict[str, Any] = {"is_compatible": not problems}
    if _flag(request, "verbose"):
        answer["messages"] = problems
    return _reply(answer)


# -- write handlers ---------------------------------------------------------------------------


async def _register(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    _check_write(request, subject)
    body = await _body(request)
    canonical = commands.validate_schema(
        body.get("schema"), body.get("schemaType"), body.get("references")
    )
    schema = str(body["schema"])
    return await _write(request, lambda s: commands.register(s, subject, schema, canonical))


async def _delete_subject(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    _check_write(request, subject)
    permanent = _flag(request, "permanent")
    return await _write(request, lambda s: commands.delete_subject(s, subject, permanent=permanent))


async def _delete_version(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    _check_write(request, subject)
    permanent = _flag(request, "permanent")
    spec = parse_version(request.match_info["version"])
    return await _write(
        request, lambda s: commands.delete_version(s, subject, spec, permanent=permanent)
    )


async def _put_config(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    _check_write(request, subject)
    body = await _body(request)
    level = body.get("compatibility", body.get("compatibilityLevel"))
    commands.set_config(RegistryState(), subject, level)  # validate before forwarding
    return await _write(request, lambda s: commands.set_config(s, subject, level))


async def _delete_config(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    _check_write(request, subject)
    return await _write(request, lambda s: commands.delete_config(s, subject))
