"""Local state of aggregations (RocksDB) and its changelog topics."""

from streamworks.state.store import Store

__all__ = ["Store"]
