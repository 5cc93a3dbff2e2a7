"""What every registry handler reads from a request, and how it answers one.

The instance a request is for (:class:`Instance`), its state, flags and paging, its JSON
body, which subjects and ids the caller may see (:mod:`streamworks.registry.auth`), and the
write path through the primary (:func:`write`). The handlers are in
:mod:`~streamworks.registry.reads` and :mod:`~streamworks.registry.writes`; the routes and
middleware in :mod:`~streamworks.registry.api`.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from streamworks.registry import commands
from streamworks.registry.auth import Authenticator, caller
from streamworks.registry.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    SchemaIdNotFoundError,
    SubjectNotFoundError,
    UnsupportedMediaTypeError,
)
from streamworks.registry.forwarding import (
    FORWARDED_HEADER,
    OFFSET_HEADER,
    WriteOutcome,
    WriteRequest,
)
from streamworks.registry.media import CONSUMED, CONTENT_TYPE
from streamworks.registry.records import SchemaRecord
from streamworks.registry.state import RegistryState

__all__ = [
    "SERVICE",
    "Handler",
    "Instance",
    "body",
    "check_write",
    "flag",
    "int32",
    "page",
    "raw_schema",
    "sees",
    "state",
    "subject",
    "visible_id",
    "visible_usages",
    "write",
]

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


SERVICE: web.AppKey[Instance] = web.AppKey("registry_service")


def state(request: web.Request) -> RegistryState:
    return request.app[SERVICE].state


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() == "true"


def int32(text: str) -> int:
    """A path or query integer as JAX-RS reads one; anything else is Jersey's plain 404."""
    if not _INT32.fullmatch(text) or not -(2**31) <= int(text) < 2**31:
        raise NotFoundError
    return int(text)


def page(request: web.Request, items: list[Any]) -> list[Any]:
    """Confluent's ``offset`` and ``limit``: a limit of 0 or less means no limit."""
    offset = max(0, int32(request.query.get("offset", "0")))
    limit = int32(request.query.get("limit", "-1"))
    return items[offset : offset + limit] if limit > 0 else items[offset:]


async def body(request: web.Request) -> dict[str, Any]:
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


def sees(request: web.Request, subject: str) -> bool:
    user = caller(request)
    return user is None or user.sees(subject)


def subject(request: web.Request) -> str:
    """The subject of the path; one the caller may not see answers as a missing one."""
    subject = request.match_info["subject"]
    if not sees(request, subject):
        raise SubjectNotFoundError(subject)
    return subject


def check_write(request: web.Request, subject: str | None) -> None:
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


def visible_id(request: web.Request) -> int:
    """The path's schema id if a subject the caller sees uses it; else as a missing id."""
    schema_id = int32(request.match_info["id"])
    usages = state(request).usages(schema_id, deleted=True)
    if not any(sees(request, r.subject) for r in usages):
        raise SchemaIdNotFoundError(schema_id)
    return schema_id


def visible_usages(request: web.Request) -> list[SchemaRecord]:
    """The subject-versions of the path's id; Confluent's 40403 here does not name the id."""
    try:
        usages = state(request).usages(visible_id(request), deleted=flag(request, "deleted"))
    except SchemaIdNotFoundError:
        raise SchemaIdNotFoundError from None
    return [record for record in usages if sees(request, record.subject)]


async def write(
    request: web.Request, command: Callable[[RegistryState], commands.Plan[Any]]
) -> web.Response:
    service = request.app[SERVICE]
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


def raw_schema(text: str) -> web.Response:
    return web.Response(text=text, content_type=CONTENT_TYPE)
