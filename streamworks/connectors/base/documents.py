"""Records as JSON documents, for the sinks that write JSON (files, webhooks, dead letters).

Avro decodes to some types JSON lacks; they are written as text: times in ISO 8601, bytes
in base64, UUIDs and decimals as their exact text (never a rounded float).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from typing import Any

from streamworks.connectors.base.records import SinkRecord

__all__ = ["record_document", "to_json"]


def record_document(record: SinkRecord) -> dict[str, Any]:
    """The JSON shape of a sink record: where it came from, its key, its time and value."""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key,
        "timestamp": dt.datetime.fromtimestamp(record.timestamp_ms / 1000, tz=dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "value": record.value,
    }


def _plain(value: Any) -> Any:
    """JSON text for what Avro decodes and JSON lacks (times, bytes, uuids, decimals)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)  # decimals as exact text, never a rounded float
    return str(value)  # nothing Avro decodes gets here; a dead letter must never fail


def to_json(value: Any) -> str:
    """Compact JSON text of ``value`` (see :func:`_plain` for the non-JSON types)."""
    return json.dumps(value, default=_plain, ensure_ascii=False, separators=(",", ":"))
