"""The order pipeline as ``streamworks worker|run orders`` builds it, from the environment."""

from __future__ import annotations

import os

from streams.orders.pipeline import REVENUE_GRACE_S, REVENUE_WINDOW_S, orders_pipeline
from streamworks import Pipeline, Settings

__all__ = ["build"]


def build() -> Pipeline:
    """The flagship pipeline; ``STREAMWORKS_ORDERS_PREFIX`` renames its topics and groups.

    The topics are ``<prefix>.raw`` ... ``<prefix>.enriched`` and the pipeline's name (its
    consumer groups' prefix) is the prefix too, so tests run isolated copies side by side.
    ``STREAMWORKS_ORDERS_CLOSE_WHEN_IDLE`` (seconds, default 5) is how long the revenue
    stage waits with no input before its windows follow the wall clock;
    ``STREAMWORKS_ORDERS_REVENUE_WINDOW`` and ``STREAMWORKS_ORDERS_REVENUE_GRACE`` (seconds,
    default 60 and 30) size its windows.
    """
    prefix = os.environ.get("STREAMWORKS_ORDERS_PREFIX", "orders")
    partitions = int(os.environ.get("STREAMWORKS_ORDERS_PARTITIONS", "2"))
    idle = float(os.environ.get("STREAMWORKS_ORDERS_CLOSE_WHEN_IDLE", "5"))
    window = float(os.environ.get("STREAMWORKS_ORDERS_REVENUE_WINDOW", str(REVENUE_WINDOW_S)))
    grace = float(os.environ.get("STREAMWORKS_ORDERS_REVENUE_GRACE", str(REVENUE_GRACE_S)))
    return orders_pipeline(
        prefix=prefix,
        name=prefix,
        guarantee=Settings().guarantee,
        partitions=partitions,
        close_when_idle=idle,
        revenue_window=window,
        revenue_grace=grace,
    )
