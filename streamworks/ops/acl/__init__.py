"""Least-privilege ACLs from a pipeline's topology: ``streamworks acl plan|apply|users``."""

from streamworks.ops.acl.apply import Changes, apply_plan, create_topics
from streamworks.ops.acl.derive import (
    REGISTRY_PRINCIPAL,
    connector_bindings,
    pipeline_bindings,
    plan,
    principals,
    registry_bindings,
    user,
)
from streamworks.ops.acl.kafka import AclRequestError, create_acls, delete_acls, describe_acls
from streamworks.ops.acl.model import Binding

__all__ = [
    "REGISTRY_PRINCIPAL",
    "AclRequestError",
    "Binding",
    "Changes",
    "apply_plan",
    "connector_bindings",
    "create_acls",
    "create_topics",
    "delete_acls",
    "describe_acls",
    "pipeline_bindings",
    "plan",
    "principals",
    "registry_bindings",
    "user",
]
