"""ACL bindings as Kafka knows them, with the wire codes of the Admin API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "OPERATIONS",
    "PATTERNS",
    "RESOURCES",
    "Binding",
    "Operation",
    "Pattern",
    "Resource",
]

Resource = Literal["TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID"]
Pattern = Literal["LITERAL", "PREFIXED"]
Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE", "IDEMPOTENT_WRITE", "ALL"]

RESOURCES: dict[str, int] = {"TOPIC": 2, "GROUP": 3, "CLUSTER": 4, "TRANSACTIONAL_ID": 5}
"""Kafka's ResourceType codes."""
PATTERNS: dict[str, int] = {"LITERAL": 3, "PREFIXED": 4}
"""Kafka's PatternType codes."""
OPERATIONS: dict[str, int] = {
    "ALL": 2,
    "READ": 3,
    "WRITE": 4,
    "CREATE": 5,
    "DELETE": 6,
    "ALTER": 7,
    "DESCRIBE": 8,
    "CLUSTER_ACTION": 9,
    "DESCRIBE_CONFIGS": 10,
    "ALTER_CONFIGS": 11,
    "IDEMPOTENT_WRITE": 12,
}
"""Kafka's AclOperation codes."""
ALLOW = 3
"""Kafka's AclPermissionType code for ALLOW (streamworks grants; it never denies)."""


@dataclass(frozen=True, order=True)
class Binding:
    """One ALLOW rule: ``principal`` may do ``operation`` on a resource, from any host."""

    principal: str
    """``User:<name>``."""
    resource: Resource
    """What kind of thing the rule is about."""
    pattern: Pattern
    """LITERAL: exactly ``name``; PREFIXED: every name starting with ``name``."""
    name: str
    """The topic, group or transactional id (``kafka-cluster`` for the cluster)."""
    operation: Operation
    """What is allowed."""
    why: str = field(default="", compare=False)
    """Why the principal needs it (shown by ``acl plan``; not part of the rule)."""

    @property
    def rule(self) -> tuple[str, str, str, str, str]:
        """The part Kafka stores: two bindings with the same rule are the same ACL."""
        return (self.principal, self.resource, self.pattern, self.name, self.operation)
