"""Reading, creating and deleting ACLs on the cluster with Kafka's Admin API.

aiokafka's admin client has no ACL methods, but it ships the protocol structures; the
requests here send many bindings at once (CreateAcls, DescribeAcls and DeleteAcls v1, which
every broker since Kafka 2.0 serves).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request

from streamworks.core.errors import StreamworksError
from streamworks.ops.acl.model import ALLOW, OPERATIONS, PATTERNS, RESOURCES, Binding

__all__ = ["AclRequestError", "create_acls", "delete_acls", "describe_acls"]

_ANY = 1
_NAMES = {
    "resource": {v: k for k, v in RESOURCES.items()},
    "pattern": {v: k for k, v in PATTERNS.items()},
    "operation": {v: k for k, v in OPERATIONS.items()},
}


class AclRequestError(StreamworksError):
    """The cluster refused to list, create or delete ACLs (the message says why)."""


def _row(b: Binding) -> tuple[int, str, int, str, str, int, int]:
    """A binding as CreateAcls v1 creates it and DeleteAcls v1 filters for it."""
    return (
        RESOURCES[b.resource],
        b.name,
        PATTERNS[b.pattern],
        b.principal,
        "*",
        OPERATIONS[b.operation],
        ALLOW,
    )


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]  # aiokafka is untyped here
    API_KEY = 30

    def __init__(self, bindings: Sequence[Binding]) -> None:
        self._rows = [_row(b) for b in bindings]

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self._rows)


class _DescribeAcls(Request[DescribeAclsRequest_v1]):  # type: ignore[misc]  # aiokafka is untyped here
    API_KEY = 29

    def __init__(self, principal: str | None) -> None:
        self._principal = principal

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        return request_struct_class(_ANY, None, _ANY, self._principal, None, _ANY, _ANY)


class _DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]  # aiokafka is untyped here
    API_KEY = 31

    def __init__(self, bindings: Sequence[Binding]) -> None:
        self._filters = [_row(b) for b in bindings]  # an exact filter matches one binding

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(self._filters)


def _check(code: int, message: str | None, doing: str) -> None:
    if code:
        name = for_code(code).__name__
        raise AclRequestError(f"{doing} failed: {name}: {message or 'no detail'}")


async def create_acls(admin: AIOKafkaAdminClient, bindings: Sequence[Binding]) -> None:
    """Create ``bindings`` (creating one that exists already changes nothing)."""
    if not bindings:
        return
    response: Any = await admin._send_request(_CreateAcls(bindings))
    for binding, (code, message) in zip(bindings, response.creation_responses, strict=True):
        _check(
            code,
            message,
            f"creating ACL {binding.operation} {binding.name} for {binding.principal}",
        )


async def describe_acls(admin: AIOKafkaAdminClient, principal: str | None = None) -> list[Binding]:
    """Every ALLOW-from-any-host binding on the cluster, or only ``principal``'s.

    Rules streamworks never writes (DENY, one host, other resource kinds) are left out, so
    a prune never touches them.
    """
    response: Any = await admin._send_request(_DescribeAcls(principal))
    _check(response.error_code, response.error_message, "listing ACLs")
    found = []
    for resource, name, pattern, acls in response.resources:
        for who, host, operation, permission in acls:
            kind = _NAMES["resource"].get(resource)
            pattern_name = _NAMES["pattern"].get(pattern)
            operation_name = _NAMES["operation"].get(operation)
            if None in (kind, pattern_name, operation_name) or permission != ALLOW or host != "*":
                continue
            found.append(Binding(who, kind, pattern_name, name, operation_name))  # type: ignore[arg-type]
    return sorted(found)


async def delete_acls(admin: AIOKafkaAdminClient, bindings: Sequence[Binding]) -> None:
    """Delete exactly ``bindings``."""
    if not bindings:
        return
    response: Any = await admin._send_request(_DeleteAcls(bindings))
    for binding, (code, message, _) in zip(bindings, response.filter_responses, strict=True):
        _check(
            code,
            message,
            f"deleting ACL {binding.operation} {binding.name} for {binding.principal}",
        )
