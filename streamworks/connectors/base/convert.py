"""Turning a source's JSON-like records into framed Avro for their topic's registered schema.

The contract of a topic is the latest schema registered under ``<topic>-value`` (the
registry's topic-name strategy). Sources never register schemas: a record that does not fit
the registered contract is a bad record, not a reason to change the contract.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from dataclasses import dataclass
from typing import Any

from streamworks.connectors.base._encode import Encoder, Invalid, compile_encoder
from streamworks.connectors.base.errors import ConversionError
from streamworks.connectors.base.records import SourceRecord
from streamworks.core.messages import OutRecord
from streamworks.schemas.codec import MAGIC_BYTE, parse
from streamworks.schemas.errors import SchemaNotFoundError
from streamworks.schemas.registry_client import RegistryClient

__all__ = ["TopicConverter", "UnknownTopicError"]

_SCHEMA_TTL_S = 60.0
"""How long a topic's latest schema is trusted before the registry is asked again."""
_HEADER = struct.Struct(">BI")
"""Confluent framing: the magic byte, then the schema's global id (as streamworks.schemas.codec
writes)."""


class UnknownTopicError(ConversionError):
    """No schema is registered for the topic, so no record can be checked against it."""


@dataclass(frozen=True)
class _Contract:
    fetched: float
    schema: dict[str, Any]
    encode: Encoder
    """Checks a value and returns it framed: header, then the Avro body."""


class TopicConverter:
    """Converts records per topic, with each topic's schema fetched once a minute at most."""

    def __init__(self, registry: RegistryClient, *, key_field: str | None = None) -> None:
        self._registry = registry
        self._key_field = key_field
        self._contracts: dict[tuple[str, bool], _Contract] = {}
        self._lock = asyncio.Lock()

    async def schema(self, topic: str) -> dict[str, Any]:
        """The latest value schema of ``topic`` as JSON data; UnknownTopicError if none."""
        return (await self._contract(topic, text=False)).schema

    async def convert(self, record: SourceRecord) -> OutRecord:
        """``record`` as framed Avro in an OutRecord; ConversionError if it does not fit."""
        contract = await self._contract(record.topic, text=record.text)
        try:
            data = contract.encode(record.value, "")
        except Invalid as error:
            raise ConversionError(
                f"{_where(record)}does not fit the schema of {record.topic}: {error}",
                field=error.path or None,
                location=record.location,
            ) from None
        return OutRecord(record.topic, self._key(record), data, record.headers)

    def _key(self, record: SourceRecord) -> bytes | None:
        if record.key is not None:
            return record.key.encode()
        if self._key_field is None:
            return None
        value = record.value.get(self._key_field)
        return None if value is None else str(value).strip().encode()

    async def _contract(self, topic: str, *, text: bool) -> _Contract:
        cached = self._contracts.get((topic, text))
        if cached is not None and time.monotonic() - cached.fetched < _SCHEMA_TTL_S:
            return cached
        async with self._lock:
            cached = self._contracts.get((topic, text))
            if cached is not None and time.monotonic() - cached.fetched < _SCHEMA_TTL_S:
                return cached
            subject = f"{topic}-value"
            try:
                found = await asyncio.to_thread(self._registry.latest, subject)
            except SchemaNotFoundError:
                if cached is not None:
                    return cached  # the subject was deleted: keep serving the known contract
                raise UnknownTopicError(
                    f"topic {topic} has no schema registered under {subject} in "
                    f"{self._registry.url}; register one (streamworks schemas register) first"
                ) from None
            schema = json.loads(found.schema)
            parse(schema)  # a schema fastavro rejects fails here, as InvalidSchemaError
            header = _HEADER.pack(MAGIC_BYTE, found.schema_id)
            contract = _Contract(
                fetched=time.monotonic(),
                schema=schema,
                encode=compile_encoder(schema, text=text, prefix=header),
            )
            self._contracts[topic, text] = contract
            return contract


def _where(record: SourceRecord) -> str:
    return f"{record.location}: " if record.location else ""
