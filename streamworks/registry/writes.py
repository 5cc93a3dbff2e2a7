"""The registry's write handlers: each runs its command on the primary
(:func:`streamworks.registry.incoming.write`), here or forwarded."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from streamworks.registry import commands, incoming
from streamworks.registry.errors import BadRequestError
from streamworks.registry.state import RegistryState, parse_version

__all__ = [
    "delete_config",
    "delete_mode",
    "delete_subject",
    "delete_version",
    "put_config",
    "put_mode",
    "register",
]


async def put_mode(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    incoming.check_write(request, subject)
    sent = (await incoming.body(request)).get("mode")
    mode = commands.parse_mode(sent)  # 42204 before forwarding
    force = incoming.flag(request, "force")
    return await incoming.write(
        request, lambda s: commands.set_mode(s, subject, mode, force=force, sent=str(sent))
    )


async def delete_mode(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    incoming.check_write(request, subject)
    return await incoming.write(request, lambda s: commands.delete_mode(s, subject))


async def register(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    incoming.check_write(request, subject)
    body = await incoming.body(request)
    submitted = commands.validate_schema(
        body.get("schema"), body.get("schemaType"), body.get("references")
    )
    schema_id, version = _given(body, "id"), _given(body, "version")
    if schema_id is None and version is None:
        return await incoming.write(request, lambda s: commands.register(s, subject, submitted))
    return await incoming.write(
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


async def delete_subject(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    incoming.check_write(request, subject)
    permanent = incoming.flag(request, "permanent")
    return await incoming.write(
        request, lambda s: commands.delete_subject(s, subject, permanent=permanent)
    )


async def delete_version(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    incoming.check_write(request, subject)
    permanent = incoming.flag(request, "permanent")
    spec = parse_version(request.match_info["version"])
    return await incoming.write(
        request, lambda s: commands.delete_version(s, subject, spec, permanent=permanent)
    )


async def put_config(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    incoming.check_write(request, subject)
    body = await incoming.body(request)
    level = body.get("compatibility", body.get("compatibilityLevel"))
    commands.set_config(RegistryState(), subject, level)  # validate before forwarding
    return await incoming.write(request, lambda s: commands.set_config(s, subject, level))


async def delete_config(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    incoming.check_write(request, subject)
    return await incoming.write(request, lambda s: commands.delete_config(s, subject))
