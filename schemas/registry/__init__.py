"""The schema registry service: Confluent's REST API with all state in a compacted topic.

Run it with ``streamworks registry``, or in-process with :class:`RegistryService`; see
``schemas/registry/README.md`` for how the instances store state and choose a primary.
"""

from schemas.registry.errors import RegistryApiError
from schemas.registry.service import RegistryConfig, RegistryService
from schemas.registry.state import RegistryState

__all__ = ["RegistryApiError", "RegistryConfig", "RegistryService", "RegistryState"]
