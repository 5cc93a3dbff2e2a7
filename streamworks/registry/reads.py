"""The registry's read handlers: answered from this instance's own state.

Each answers as Confluent's registry does; what the caller may not see answers as missing
(:mod:`streamworks.registry.incoming`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from streamworks.registry import commands, incoming
from streamworks.registry.errors import (
    InvalidSchemaTextError,
    SubjectConfigNotFoundError,
    SubjectModeNotFoundError,
    SubjectNotFoundError,
    VersionNotFoundError,
)
from streamworks.registry.media import json_reply
from streamworks.registry.state import parse_version

__all__ = [
    "by_id",
    "by_id_schema",
    "compatibility",
    "get_config",
    "get_mode",
    "id_subjects",
    "id_versions",
    "lookup",
    "referenced_by",
    "root",
    "schemas",
    "subjects",
    "types",
    "version",
    "version_schema",
    "versions",
]


async def root(request: web.Request) -> web.Response:
    return json_reply({})


async def schemas(request: web.Request) -> web.Response:
    """``GET /schemas``: every (live, or with ``deleted`` any) version of the subjects with
    the prefix, by subject then version; ``latestOnly`` keeps each subject's last."""
    state = incoming.state(request)
    prefix = request.query.get("subjectPrefix", "")
    deleted = incoming.flag(request, "deleted")
    latest_only = incoming.flag(request, "latestOnly")
    found: list[dict[str, Any]] = []
    for subject in state.subjects(deleted=deleted):
        if not subject.startswith(prefix) or not incoming.sees(request, subject):
            continue
        versions = state.versions(subject, deleted=deleted)
        found.extend(commands.version_json(r) for r in (versions[-1:] if latest_only else versions))
    return json_reply(incoming.page(request, found))


async def types(request: web.Request) -> web.Response:
    return json_reply(list(commands.SCHEMA_TYPES))


async def get_mode(request: web.Request) -> web.Response:
    """The global mode, or a subject's own (40409 without one, unless defaultToGlobal)."""
    state = incoming.state(request)
    subject = request.match_info.get("subject")
    # a subject the caller may not see answers as one without a mode of its own
    own = state.mode(subject) if subject is not None and incoming.sees(request, subject) else None
    if subject is None or (own is None and incoming.flag(request, "defaultToGlobal")):
        return json_reply({"mode": state.effective_mode(None)})
    if own is None:
        raise SubjectModeNotFoundError(subject)
    return json_reply({"mode": own})


def _deleted_only(request: web.Request) -> bool:
    # Confluent's parameter; confluent-kafka's Python client sends deleted_only
    return incoming.flag(request, "deletedOnly") or incoming.flag(request, "deleted_only")


async def subjects(request: web.Request) -> web.Response:
    state = incoming.state(request)
    # Confluent's subjectPrefix; confluent-kafka's Python client sends subject
    prefix = request.query.get("subjectPrefix", request.query.get("subject", ""))
    if _deleted_only(request):
        live = set(state.subjects())
        names = [s for s in state.subjects(deleted=True) if s not in live]
    else:
        names = state.subjects(deleted=incoming.flag(request, "deleted"))
    visible = [name for name in names if name.startswith(prefix) and incoming.sees(request, name)]
    return json_reply(incoming.page(request, visible))


async def versions(request: web.Request) -> web.Response:
    subject, state = incoming.subject(request), incoming.state(request)
    deleted_only = _deleted_only(request)
    versions = state.versions(subject, deleted=deleted_only or incoming.flag(request, "deleted"))
    if not versions:
        raise SubjectNotFoundError(subject)
    if deleted_only:  # as Confluent: the subject exists, and the list may be empty
        versions = [record for record in versions if record.deleted]
    return json_reply(incoming.page(request, [record.version for record in versions]))


async def version(request: web.Request) -> web.Response:
    spec = parse_version(request.match_info["version"])
    record = incoming.state(request).version(
        incoming.subject(request), spec, deleted=incoming.flag(request, "deleted")
    )
    return json_reply(commands.version_json(record))


async def version_schema(request: web.Request) -> web.Response:
    spec = parse_version(request.match_info["version"])
    record = incoming.state(request).version(
        incoming.subject(request), spec, deleted=incoming.flag(request, "deleted")
    )
    return incoming.raw_schema(record.schema)


async def referenced_by(request: web.Request) -> web.Response:
    spec = parse_version(request.match_info["version"])
    state = incoming.state(request)
    record = state.version(
        incoming.subject(request), spec, deleted=True
    )  # as Confluent: soft-deleted too
    # ids used only by subjects the caller may not see are left out, as if they did not exist
    ids = state.referenced_by(record.subject, record.version)
    visible = [i for i in ids if any(incoming.sees(request, r.subject) for r in state.usages(i))]
    return json_reply(incoming.page(request, visible))


async def lookup(request: web.Request) -> web.Response:
    body = await incoming.body(request)
    submitted = commands.validate_schema(
        body.get("schema"), body.get("schemaType"), body.get("references")
    )
    found = commands.lookup(
        incoming.state(request),
        incoming.subject(request),
        submitted,
        deleted=incoming.flag(request, "deleted"),
    )
    return json_reply(found)


async def by_id(request: web.Request) -> web.Response:
    state, schema_id = incoming.state(request), incoming.visible_id(request)
    answer: dict[str, Any] = {"schema": state.schema(schema_id)}
    references = state.references(schema_id)
    if references:  # omitted when empty, as Confluent does
        answer["references"] = [reference.to_json() for reference in references]
    return json_reply(answer)


async def by_id_schema(request: web.Request) -> web.Response:
    return incoming.raw_schema(incoming.state(request).schema(incoming.visible_id(request)))


async def id_subjects(request: web.Request) -> web.Response:
    usages = incoming.visible_usages(request)
    return json_reply(incoming.page(request, sorted({record.subject for record in usages})))


async def id_versions(request: web.Request) -> web.Response:
    usages = incoming.visible_usages(request)
    pairs = [{"subject": record.subject, "version": record.version} for record in usages]
    return json_reply(incoming.page(request, pairs))


async def get_config(request: web.Request) -> web.Response:
    state = incoming.state(request)
    subject = request.match_info.get("subject")
    if subject is None:
        return json_reply({"compatibilityLevel": state.effective_level(None)})
    level = state.level(subject) if incoming.sees(request, subject) else None
    if level is None:
        if not incoming.flag(request, "defaultToGlobal"):
            raise SubjectConfigNotFoundError(subject)
        level = state.effective_level(None)
    return json_reply({"compatibilityLevel": level})


async def compatibility(request: web.Request) -> web.Response:
    """Confluent's rules: a version that is not live (or a subject that does not exist)
    is 40402; ``latest`` of nothing is compatible; an invalid schema with ``verbose`` is
    an answer, not an error."""
    state = incoming.state(request)
    subject = request.match_info["subject"]
    text = request.match_info.get("version")
    spec = None if text is None else parse_version(text)
    body = await incoming.body(request)
    # a subject the caller may not see is checked as an empty one, as if it did not exist
    against = state.versions(subject) if incoming.sees(request, subject) else []
    if spec == "latest":
        against = against[-1:]
    elif spec is not None:
        against = [record for record in against if record.version == spec]
        if not against:
            raise VersionNotFoundError(subject, spec)
    verbose = incoming.flag(request, "verbose")
    try:
        canonical = commands.validate_schema(
            body.get("schema"), body.get("schemaType"), body.get("references")
        )
    except InvalidSchemaTextError as error:
        if not verbose:
            raise
        return json_reply({"is_compatible": False, "messages": [str(error)]})
    problems = commands.compatibility_problems(state, subject, canonical, against)
    answer: dict[str, Any] = {"is_compatible": not problems}
    if verbose:
        answer["messages"] = problems
    return json_reply(answer)
