"""A worker process never outlives the supervisor that started it.

Two mechanisms, since either alone has a gap: on Linux the kernel sends the worker SIGTERM
when its parent dies (``PR_SET_PDEATHSIG``), however it dies, kill -9 included; and the
worker watches its parent pid, which changes when the parent is gone (it is reparented),
on any platform. Either way the worker stops as on SIGTERM: it finishes the batch in
flight, commits and leaves its group.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["DRAIN_GRACE_S", "bind_to_parent", "watch_parent"]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
DRAIN_GRACE_S = 30.0
"""How long an orphaned worker may drain before it exits anyway (the supervisor's grace)."""

logger = logging.getLogger(__name__)


def bind_to_parent(parent: int) -> bool:
    """Have Linux SIGTERM this process when its parent dies; False if ``parent`` is gone.

    ``parent`` is the pid of the process that started this one. The signal is tied to the
    parent as it is *now*: if it died before this call, the process was already
    reparented and no signal will come, hence the check afterwards. (Linux sends the
    signal when the parent's *thread* that started the process ends, so a supervisor
    starts workers from a thread that lives as long as it does.)
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            logger.warning(
                "could not ask to be stopped with the supervisor (prctl: %s); "
                "watching its pid instead",
                os.strerror(ctypes.get_errno()),
            )
    return os.getppid() == parent


async def watch_parent(
    parent: int,
    stop: Callable[[], None],
    *,
    every_s: float = 1.0,
    grace_s: float = DRAIN_GRACE_S,
) -> None:
    """Once this process's parent is no longer ``parent``, call ``stop`` (drain, commit,
    leave); if the process is still running ``grace_s`` later, end it, as the supervisor
    would have."""
    while os.getppid() == parent:  # noqa: ASYNC110 - a parent's end sets no event: poll it
        await asyncio.sleep(every_s)
    logger.warning(
        "the supervisor (pid %d) is gone; this worker drains, commits and leaves its group",
        parent,
    )
    stop()
    await asyncio.sleep(grace_s)
    logger.error("the worker did not drain within %.0f s of its supervisor's end; exiting", grace_s)
    os._exit(1)
