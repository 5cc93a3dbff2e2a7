"""The schema registry service: Confluent's REST API with all state in a compacted topic.

Run it with ``streamworks registry``, or in-process with :class:`RegistryService`; see
``streamworks/registry/README.md`` for how the instances store state and choose a primary, and
its "Security" section for users (:func:`add_user`) and TLS.
"""

from streamworks.registry.errors import RegistryApiError, RegistrySetupError, UsersFileError
from streamworks.registry.service import RegistryConfig, RegistryService
from streamworks.registry.state import RegistryState
from streamworks.registry.users import Role, User, add_user, load_users

__all__ = [
    "RegistryApiError",
    "RegistryConfig",
    "RegistryService",
    "RegistrySetupError",
    "RegistryState",
    "Role",
    "User",
    "UsersFileError",
    "add_user",
    "load_users",
]
