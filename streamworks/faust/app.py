"""faust-streaming apps with the platform's safe defaults.

faust's aiokafka producer uses ``producer_acks`` but turns idempotence on only inside
transactions, so an at-least-once app could write a record twice when a produce request is
retried. Apps made here use a transport whose producer is always idempotent with acks=all;
its URL scheme is ``streamworks://``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust
from faust.transport import drivers
from faust.transport.drivers.aiokafka import Producer, Transport

from streamworks.core.settings import Settings

__all__ = ["SafeProducer", "SafeTransport", "new_app"]

TRANSPORT_SCHEME = "streamworks"


class SafeProducer(Producer):
    """faust's aiokafka producer, idempotent with acks=all in every mode."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class SafeTransport(Transport):
    """faust's aiokafka transport with :class:`SafeProducer`."""

    Producer = SafeProducer


drivers.TRANSPORTS.aliases[TRANSPORT_SCHEME] = f"{__name__}:SafeTransport"


def new_app(
    app_id: str,
    *,
    partitions: int,
    settings: Settings | None = None,
    datadir: Path | None = None,
    **overrides: Any,
) -> faust.App:
    """A faust app on the configured cluster with RocksDB tables and safe clients.

    ``partitions`` is the partition count of the app's input topics: faust requires a
    table's changelog to have exactly as many partitions as the stream that updates it,
    and its default (8) silently crash-loops an agent whose input has another count.
    """
    s = settings or Settings()
    brokers = [f"{TRANSPORT_SCHEME}://{server}" for server in s.bootstrap_servers.split(",")]
    options: dict[str, Any] = {
        "broker": brokers,
        "store": "rocksdb://",
        "datadir": str(datadir or s.state_dir / app_id),
        "topic_partitions": partitions,
        "producer_acks": -1,
        "consumer_auto_offset_reset": "earliest",
        "processing_guarantee": (
            "exactly_once" if s.guarantee == "exactly-once" else "at_least_once"
        ),
        "web_enabled": False,
    }
    options.update(overrides)
    return faust.App(app_id, **options)
