"""The reference project's demo: the order pipeline end to end on the local platform.

``streamworks demo`` runs :func:`demo` (``[tool.streamworks] demo`` in ``pyproject.toml``).
"""

from ops.demo.command import demo

__all__ = ["demo"]
