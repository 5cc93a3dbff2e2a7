"""The error root of streamworks.

It lives in ``schemas`` because that is the lowest package: everything else depends on
it, so every subsystem can derive its own errors from one root without import cycles.
"""

from __future__ import annotations

__all__ = ["StreamworksError"]


class StreamworksError(Exception):
    """Base of every error streamworks raises on purpose.

    ``retriable`` says whether trying the same thing again later may succeed (a broker or
    registry that is down) or not (bad bytes, a bad configuration). The runtime decides
    retry-or-dead-letter from this flag, never from the message.
    """

    retriable: bool = False
