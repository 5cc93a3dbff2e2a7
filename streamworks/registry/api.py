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
import re
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
    InvalidSchemaTextError,
    NotFoundError,
    RegistryApiError,
    SchemaIdNotFoundError,
    SubjectConfigNotFoundError,
    SubjectModeNotFoundError,
    SubjectNotFoundError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    VersionNotFoundError,
)
from streamworks.registry.forwarding import (
    FORWARDED_HEADER,
    OFFSET_HEADER,
    WriteOutcome,
    WriteRequest,
)
from streamworks.registry.media import (
    CONSUMED,
    CONTENT_TYPE,
    content_negotiation,
    json_reply,
)
from streamworks.registry.metrics import count_requests
from streamworks.registry.records import SchemaRecord
from streamworks.registry.state import RegistryState, parse_version
from streamworks.runtime.metrics import metrics_response

__all__ = ["CONTENT_TYPE", "Instance", "build_app"]

logger = logging.getLogger(__name__)

# Any character but a slash, which a subject may hold URL-encoded as %2F (aiohttp matches
# on the path with %2F still encoded and decodes the parameter); the default pattern also
# refuses the braces some subjects have.
_SUBJECT = "{subject:[^/]+}"
_VERSION = "{version:[^/]+}"
_INT32 = re.compile(r"[+-]?[0-9]{1,10}")
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
    middlewares: list[Middleware] = [
        _remember_connection,
        count_requests,
        content_negotiation,
        _errors,
    ]
    if service.authenticator is not None:
        middlewares.append(authentication(service.authenticator))
    app = web.Application(middlewares=middlewares)
    app[_SERVICE] = service
    r = app.router
    r.add_get("/metrics", _metrics)
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "", _root),
        ("GET", "/schemas", _schemas),
        ("GET", "/schemas/types", _types),
        ("GET", "/mode", _get_mode),
        ("PUT", "/mode", _put_mode),
        ("GET", f"/mode/{_SUBJECT}", _get_mode),
        ("PUT", f"/mode/{_SUBJECT}", _put_mode),
        ("DELETE", f"/mode/{_SUBJECT}", _delete_mode),
        ("GET", "/subjects", _subjects),
        ("GET", f"/subjects/{_SUBJECT}/versions", _versions),
        ("POST", f"/subjects/{_SUBJECT}/versions", _register),
        ("GET", f"/subjects/{_SUBJECT}/versions/{_VERSION}", _version),
        ("GET", f"/subjects/{_SUBJECT}/versions/{_VERSION}/schema", _version_schema),
        ("GET", f"/subjects/{_SUBJECT}/versions/{_VERSION}/referencedby", _referenced_by),
        ("DELETE", f"/subjects/{_SUBJECT}/versions/{_VERSION}", _delete_version),
        ("POST", f"/subjects/{_SUBJECT}", _lookup),
        ("DELETE", f"/subjects/{_SUBJECT}", _delete_subject),
        ("GET", "/schemas/ids/{id}", _by_id),
        ("GET", "/schemas/ids/{id}/schema", _by_id_schema),
        ("GET", "/schemas/ids/{id}/subjects", _id_subjects),
        ("GET", "/schemas/ids/{id}/versions", _id_versions),
        ("GET", "/config", _get_config),
        ("PUT", "/config", _put_config),
        ("DELETE", "/config", _delete_config),
        ("GET", f"/config/{_SUBJECT}", _get_config),
        ("PUT", f"/config/{_SUBJECT}", _put_config),
        ("DELETE", f"/config/{_SUBJECT}", _delete_config),
        ("POST", f"/compatibility/subjects/{_SUBJECT}/versions/{_VERSION}", _compatibility),
        ("POST", f"/compatibility/subjects/{_SUBJECT}/versions", _compatibility),
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


def _int32(text: str) -> int:
    """A path or query integer as JAX-RS reads one; anything else is Jersey's plain 404."""
    if not _INT32.fullmatch(text) or not -(2**31) <= int(text) < 2**31:
        raise NotFoundError
    return int(text)


def _page(request: web.Request, items: list[Any]) -> list[Any]:
    """Confluent's ``offset`` and ``limit``: a limit of 0 or less means no limit."""
    offset = max(0, _int32(request.query.get("offset", "0")))
    limit = _int32(request.query.get("limit", "-1"))
    return items[offset : offset + limit] if limit > 0 else items[offset:]


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type not in CONSUMED:
        raise UnsupportedMediaTypeError
    raw = await request.read()
    try:
        text = raw.decode(request.charset or "utf-8")
        data = json.loads(text) if text.strip() else {}
    except (LookupError, ValueError) as error:  # an unknown charset, bad bytes or bad JSON
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
        raise SubjectNotFoundError(subject)
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


def _visible_id(request: web.Request) -> int:
    """The path's schema id if a subject the caller sees uses it; else as a missing id."""
    schema_id = _int32(request.match_info["id"])
    state = _state(request)
    if not any(_sees(request, r.subject) for r in state.usages(schema_id, deleted=True)):
        raise SchemaIdNotFoundError(schema_id)
    return schema_id


def _visible_usages(request: web.Request) -> list[SchemaRecord]:
    """The subject-versions of the path's id; Confluent's 40403 here does not name the id."""
    try:
        usages = _state(request).usages(_visible_id(request), deleted=_flag(request, "deleted"))
    except SchemaIdNotFoundError:
        raise SchemaIdNotFoundError from None
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


def _version_json(record: SchemaRecord) -> dict[str, Any]:
    return commands.version_json(record)


def _raw_schema(text: str) -> web.Response:
    return web.Response(text=text, content_type=CONTENT_TYPE)


# -- read handlers ----------------------------------------------------------------------------


async def _root(request: web.Request) -> web.Response:
    return _reply({})


async def _schemas(request: web.Request) -> web.Response:
    """``GET /schemas``: every (live, or with ``deleted`` any) version of the subjects with
    the prefix, by subject then version; ``latestOnly`` keeps each subject's last."""
    state = _state(request)
    prefix = request.query.get("subjectPrefix", "")
    deleted = _flag(request, "deleted")
    latest_only = _flag(request, "latestOnly")
    found: list[dict[str, Any]] = []
    for subject in state.subjects(deleted=deleted):
        if not subject.startswith(prefix) or not _sees(request, subject):
            continue
        versions = state.versions(subject, deleted=deleted)
        found.extend(_version_json(r) for r in (versions[-1:] if latest_only else versions))
    return _reply(_page(request, found))


async def _types(request: web.Request) -> web.Response:
    return _reply(list(commands.SCHEMA_TYPES))


async def _get_mode(request: web.Request) -> web.Response:
    """The global mode, or a subject's own (40409 without one, unless defaultToGlobal)."""
    state = _state(request)
    subject = request.match_info.get("subject")
    # a subject the caller may not see answers as one without a mode of its own
    own = state.mode(subject) if subject is not None and _sees(request, subject) else None
    if subject is None or (own is None and _flag(request, "defaultToGlobal")):
        return _reply({"mode": state.effective_mode(None)})
    if own is None:
        raise SubjectModeNotFoundError(subject)
    return _reply({"mode": own})


async def _put_mode(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    _check_write(request, subject)
    sent = (await _body(request)).get("mode")
    mode = commands.parse_mode(sent)  # 42204 before forwarding
    force = _flag(request, "force")
    return await _write(
        request, lambda s: commands.set_mode(s, subject, mode, force=force, sent=str(sent))
    )


async def _delete_mode(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    _check_write(request, subject)
    return await _write(request, lambda s: commands.delete_mode(s, subject))


def _deleted_only(request: web.Request) -> bool:
    # Confluent's parameter; confluent-kafka's Python client sends deleted_only
    return _flag(request, "deletedOnly") or _flag(request, "deleted_only")


async def _subjects(request: web.Request) -> web.Response:
    state = _state(request)
    # Confluent's subjectPrefix; confluent-kafka's Python client sends subject
    prefix = request.query.get("subjectPrefix", request.query.get("subject", ""))
    if _deleted_only(request):
        live = set(state.subjects())
        names = [s for s in state.subjects(deleted=True) if s not in live]
    else:
        names = state.subjects(deleted=_flag(request, "deleted"))
    visible = [name for name in names if name.startswith(prefix) and _sees(request, name)]
    return _reply(_page(request, visible))


async def _versions(request: web.Request) -> web.Response:
    subject, state = _subject(request), _state(request)
    deleted_only = _deleted_only(request)
    versions = state.versions(subject, deleted=deleted_only or _flag(request, "deleted"))
    if not versions:
        raise SubjectNotFoundError(subject)
    if deleted_only:  # as Confluent: the subject exists, and the list may be empty
        versions = [record for record in versions if record.deleted]
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
    state = _state(request)
    record = state.version(_subject(request), spec, deleted=True)  # as Confluent: soft-deleted too
    # ids used only by subjects the caller may not see are left out, as if they did not exist
    ids = state.referenced_by(record.subject, record.version)
    visible = [i for i in ids if any(_sees(request, r.subject) for r in state.usages(i))]
    return _reply(_page(request, visible))


async def _lookup(request: web.Request) -> web.Response:
    body = await _body(request)
    submitted = commands.validate_schema(
        body.get("schema"), body.get("schemaType"), body.get("references")
    )
    found = commands.lookup(
        _state(request), _subject(request), submitted, deleted=_flag(request, "deleted")
    )
    return _reply(found)


async def _by_id(request: web.Request) -> web.Response:
    state, schema_id = _state(request), _visible_id(request)
    answer: dict[str, Any] = {"schema": state.schema(schema_id)}
    references = state.references(schema_id)
    if references:  # omitted when empty, as Confluent does
        answer["references"] = [reference.to_json() for reference in references]
    return _reply(answer)


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
            raise SubjectConfigNotFoundError(subject)
        level = state.effective_level(None)
    return _reply({"compatibilityLevel": level})


async def _compatibility(request: web.Request) -> web.Response:
    """Confluent's rules: a version that is not live (or a subject that does not exist)
    is 40402; ``latest`` of nothing is compatible; an invalid schema with ``verbose`` is
    an answer, not an error."""
    state = _state(request)
    subject = request.match_info["subject"]
    text = request.match_info.get("version")
    spec = None if text is None else parse_version(text)
    body = await _body(request)
    # a subject the caller may not see is checked as an empty one, as if it did not exist
    against = state.versions(subject) if _sees(request, subject) else []
    if spec == "latest":
        against = against[-1:]
    elif spec is not None:
        against = [record for record in against if record.version == spec]
        if not against:
            raise VersionNotFoundError(subject, spec)
    verbose = _flag(request, "verbose")
    try:
        canonical = commands.validate_schema(
            body.get("schema"), body.get("schemaType"), body.get("references")
        )
    except InvalidSchemaTextError as error:
        if not verbose:
            raise
        return _reply({"is_compatible": False, "messages": [str(error)]})
    problems = commands.compatibility_problems(state, subject, canonical, against)
    answer: dict[str, Any] = {"is_compatible": not problems}
    if verbose:
        answer["messages"] = problems
    return _reply(answer)


# -- write handlers ---------------------------------------------------------------------------


async def _register(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    _check_write(request, subject)
    body = await _body(request)
    submitted = commands.validate_schema(
        body.get("schema"), body.get("schemaType"), body.get("references")
    )
    schema_id, version = _given(body, "id"), _given(body, "version")
    if schema_id is None and version is None:
        return await _write(request, lambda s: commands.register(s, subject, submitted))
    return await _write(
        request, lambda s: commands.import_schema(s, subject, submitted, schema_id, version)
    )


def _given(body: dict[str, Any], name: str) -> int | None:
    """A registration's ``id`` or ``version`` (IMPORT mode); absent, 0 or negative is none."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequestError(f"{name} must be an integer")
    return value if value > 0 else None


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
