"""A consumed record as one JSON document: where it is, its key, value and headers.

Values are decoded by what they are: registry-framed Avro by the schema id they carry
(read with their writer's schema, so any topic works: outputs, dead letters, late
records), JSON as JSON, anything else shown as base64. A value that cannot be decoded
(an unknown schema id, a broken body) is shown as base64 with ``value_error`` saying why.
Values JSON lacks are written as text by :func:`~streamworks.connectors.base.documents.to_json`:
times in ISO 8601, decimals and UUIDs as their exact text, bytes in base64.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from streamworks.connectors.base.documents import to_json
from streamworks.core.lineage import LINEAGE_HEADER, lineage_of
from streamworks.core.settings import Settings
from streamworks.schemas.codec import MAGIC_BYTE, AvroCodec
from streamworks.schemas.errors import ValueDecodeError
from streamworks.schemas.registry_client import RegistryClient

__all__ = ["RecordRenderer", "headers_document", "shown_bytes"]

_FRAME = 5
"""The magic byte and the 4-byte schema id before an Avro body."""


class RecordRenderer:
    """Turns the consumed records of one topic into JSON lines.

    ``json_topic`` (a pipeline declares the topic ``format="json"``) reads every value as
    JSON; otherwise a value starting with the magic byte is read as Avro. The registry is
    asked only for schema ids it has not seen, once each.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        json_topic: bool = False,
        origins: Mapping[int, tuple[str, str]] | None = None,
    ) -> None:
        """``origins`` name the lineage headers' origin ids (stage, topic)."""
        self._avro = AvroCodec(RegistryClient.from_settings(settings)).decoder()
        self._json_topic = json_topic
        self._origins = origins or {}

    def line(self, record: ConsumerRecord[bytes, bytes]) -> str:
        """The JSON text of :meth:`document`, on one line."""
        return to_json(self.document(record))

    def document(self, record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
        """``topic``, ``partition``, ``offset``, ``timestamp``, ``key`` (``key_format``),
        ``value`` (``value_format``, and ``schema_id`` or ``value_error`` where they
        apply) and ``headers``."""
        key, key_format = shown_bytes(record.key)
        when = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        return {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": when.isoformat(timespec="milliseconds"),
            "key": key,
            "key_format": key_format,
            **self._value(record),
            "headers": headers_document(record.headers, self._origins),
        }

    def _value(self, record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
        data = record.value
        if data is None:
            return {"value": None, "value_format": None}  # a tombstone
        if self._json_topic:
            return _json(data) or _raw(data, "not JSON, though the topic's format is json")
        if len(data) >= _FRAME and data[0] == MAGIC_BYTE:
            try:
                value = self._avro.decode(data, topic=record.topic, offset=record.offset)
            except ValueDecodeError as error:
                return {**_raw(data, error.reason), "schema_id": error.schema_id}
            schema_id = int.from_bytes(data[1:_FRAME], "big")
            return {"value": value, "value_format": "avro", "schema_id": schema_id}
        return _json(data) or _raw(data)


def _json(data: bytes) -> dict[str, Any] | None:
    try:
        return {"value": orjson.loads(data), "value_format": "json"}
    except orjson.JSONDecodeError:
        return None


def _raw(data: bytes, error: str | None = None) -> dict[str, Any]:
    shown = {"value": base64.b64encode(data).decode("ascii"), "value_format": "base64"}
    return shown if error is None else {**shown, "value_error": error}


def shown_bytes(data: bytes | None) -> tuple[str | None, str | None]:
    """``data`` as text with ``"text"`` when it is UTF-8, else as base64 with ``"base64"``
    (None, None for no bytes)."""
    if data is None:
        return None, None
    try:
        return data.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def headers_document(
    headers: Any, origins: Mapping[int, tuple[str, str]] | None = None
) -> dict[str, Any]:
    """Headers by name: UTF-8 values (every ``streamworks.*`` header) as text, others as
    ``{"base64": ...}``; a name that repeats maps to the list of its values. The lineage
    header is shown as ``{stage, topic, partition, offset}``, or with the ``origin`` id in
    hex where ``origins`` does not name it."""
    found: dict[str, Any] = {}
    for name, data in headers or ():
        value = _lineage_document(data, origins or {}) if name == LINEAGE_HEADER else None
        if value is None:
            text, kind = shown_bytes(data)
            value = text if kind != "base64" else {"base64": text}
        if name in found:
            earlier = found[name]
            found[name] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
        else:
            found[name] = value
    return found


def _lineage_document(data: bytes, origins: Mapping[int, tuple[str, str]]) -> Any:
    lineage = lineage_of([(LINEAGE_HEADER, data)])
    if lineage is None:
        return None
    named = origins.get(lineage.origin)
    where = {"stage": named[0], "topic": named[1]} if named else {"origin": f"{lineage.origin:08x}"}
    return {**where, "partition": lineage.partition, "offset": lineage.offset}
