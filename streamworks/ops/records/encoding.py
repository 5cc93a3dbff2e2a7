"""Checking a JSON object against its topic's contract and encoding it as the runtime does.

A topic with a record class (from a pipeline) is read with the class's JSON rules
(:class:`~streamworks.schemas.json_codec.JsonRecordCodec`: timestamps as ISO text or epoch
milliseconds, decimals as text or numbers, UUIDs as text) and written with the codec its
format says: registry-framed Avro under ``<topic>-value``, or JSON. A topic without one
is checked against the latest schema registered under ``<topic>-value`` and framed with
its id, by the connectors' converter (the same rules, with the same problems named).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from streamworks.connectors.base.convert import TopicConverter
from streamworks.connectors.base.errors import ConversionError
from streamworks.connectors.base.records import SourceRecord
from streamworks.core.settings import Settings
from streamworks.ops.records.input import InputRecord, Reject
from streamworks.pipeline.graph import TopicSpec
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import EncodeError, ValueDecodeError
from streamworks.schemas.json_codec import JsonRecordCodec
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import TypedCodec, codec_for

__all__ = ["ValueEncoder", "encoder_for"]


class ValueEncoder(Protocol):
    """Encodes the JSON objects of one topic, or says why one does not fit."""

    contract: str
    """What records are checked against, for messages: ``kit.Reading (Avro)``."""

    async def encode(self, record: InputRecord) -> bytes | Reject:
        """The value bytes of ``record``, or the reject saying why it has none."""
        ...


async def encoder_for(settings: Settings, topic: str, spec: TopicSpec | None) -> ValueEncoder:
    """The encoder of ``topic``: its record class's when ``spec`` has one, else the
    registry's latest schema's (an error naming the subject when there is none)."""
    registry = RegistryClient.from_settings(settings)
    if spec is not None and spec.record_type is not None:
        return _TypedEncoder(spec.record_type, spec, registry)
    converter = TopicConverter(registry)
    await converter.schema(topic)  # no subject: one error now, not one reject per record
    return _RegisteredEncoder(topic, converter, registry)


class _TypedEncoder:
    def __init__(self, kind: type[AvroRecord], spec: TopicSpec, registry: RegistryClient) -> None:
        self._reader = JsonRecordCodec(kind)
        self._writer: TypedCodec[Any] = codec_for(
            kind, AvroCodec(registry), format=spec.format, subject=f"{spec.name}-value"
        )
        self.contract = (
            f"{self._reader.record_name} ({'JSON' if spec.format == 'json' else 'Avro'})"
        )

    async def encode(self, record: InputRecord) -> bytes | Reject:
        try:
            typed = self._reader.decode(orjson.dumps(record.value))
            return self._writer.encode(typed)
        except orjson.JSONEncodeError as error:  # an integer beyond 64 bits
            return Reject(record.line, f"cannot be read: {error}")
        except ValueDecodeError as error:
            return Reject(record.line, error.reason)
        except EncodeError as error:
            return Reject(record.line, str(error))


class _RegisteredEncoder:
    def __init__(self, topic: str, converter: TopicConverter, registry: RegistryClient) -> None:
        self._topic = topic
        self._converter = converter
        self.contract = f"the latest schema of {topic}-value in {registry.url} (Avro)"

    async def encode(self, record: InputRecord) -> bytes | Reject:
        try:
            converted = await self._converter.convert(SourceRecord(self._topic, record.value))
        except ConversionError as error:
            return Reject(record.line, str(error))
        return converted.value or b""
