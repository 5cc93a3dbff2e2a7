"""An in-process schema source for unit tests, benchmarks and the in-memory test driver."""

from __future__ import annotations

import json
import threading

from streamworks.schemas.errors import SchemaNotFoundError

__all__ = ["InMemoryRegistry"]


class InMemoryRegistry:
    """Assigns global ids like a registry does (same schema, same id) without a server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._subjects: dict[str, list[int]] = {}

    def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` under ``subject`` and return its global id."""
        canonical = json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))
        with self._lock:
            schema_id = self._ids.get(canonical)
            if schema_id is None:
                schema_id = len(self._by_id) + 1
                self._ids[canonical] = schema_id
                self._by_id[schema_id] = schema
            versions = self._subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
        return schema_id

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text of ``schema_id``."""
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise SchemaNotFoundError(
                f"schema id {schema_id} is not registered", status=404, error_code=40403
            ) from None
