"""Local state of aggregations (RocksDB) and its changelog topics."""

from streams.state.store import Store

__all__ = ["Store"]
