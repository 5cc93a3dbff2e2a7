"""Typed records over the codecs: encode a record object, decode straight into one.

A topic's values are registry-framed Avro (:class:`RecordCodec`, the default) or JSON
(:class:`~streamworks.schemas.json_codec.JsonRecordCodec`); :func:`codec_for` makes the
one a topic's format says, and both are a :class:`TypedCodec`.
"""

from __future__ import annotations

from typing import Generic, Literal, Protocol, TypeVar

from streamworks.schemas.catalog import contract_of
from streamworks.schemas.codec import AvroCodec, AvroEncoder
from streamworks.schemas.errors import EncodeError
from streamworks.schemas.json_codec import JsonRecordCodec
from streamworks.schemas.records import AvroRecord

__all__ = ["FORMATS", "Format", "RecordCodec", "TypedCodec", "codec_for"]

R = TypeVar("R", bound=AvroRecord)

Format = Literal["avro", "json"]
"""How a topic's values are written: registry-framed Avro, or UTF-8 JSON objects."""
FORMATS: tuple[Format, ...] = ("avro", "json")


class TypedCodec(Protocol[R]):
    """Encodes records of one type to a topic's value bytes and decodes them back."""

    @property
    def record_type(self) -> type[R]:
        """The record class."""
        ...

    def encode(self, record: R) -> bytes:
        """The value bytes of ``record``; one that does not fit raises EncodeError."""
        ...

    def decode(
        self,
        data: bytes | None,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> R:
        """The typed record in ``data``; bad bytes raise ValueDecodeError."""
        ...


def codec_for(
    record_type: type[R],
    codec: AvroCodec,
    *,
    format: Format = "avro",
    subject: str | None = None,
    register: bool = True,
) -> TypedCodec[R]:
    """The codec of ``record_type`` values in ``format``: Avro with ``codec``'s registry
    (``subject``, ``register`` as :class:`RecordCodec` takes them), or JSON, which needs none."""
    if format == "json":
        return JsonRecordCodec(record_type)
    return RecordCodec(record_type, codec, subject=subject, register=register)


class RecordCodec(Generic[R]):
    """Encodes and decodes one record type with its contract as writer and reader schema.

    Decoding resolves whatever schema a record was written with into this contract, so a
    consumer keeps working while producers move to a newer compatible version.
    """

    def __init__(
        self,
        record_type: type[R],
        codec: AvroCodec,
        *,
        subject: str | None = None,
        register: bool = True,
    ) -> None:
        """``register=False`` makes a decode-only codec that never writes to the registry."""
        found = contract_of(record_type)
        self.record_type = record_type
        self.subject = subject or found.subject
        self._encoder = codec.encoder(self.subject, found.schema_str) if register else None
        self._decoder = codec.decoder(found.schema)

    @property
    def schema_id(self) -> int:
        """The global id records written by this codec carry."""
        return self._writer().schema_id

    def encode(self, record: R) -> bytes:
        """Framed Avro bytes of ``record``."""
        return self._writer().encode(record.to_avro())

    def _writer(self) -> AvroEncoder:
        if self._encoder is None:
            raise EncodeError(f"the codec of {self.record_type.__name__} is decode-only")
        return self._encoder

    def decode(
        self,
        data: bytes | None,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> R:
        """The typed record in ``data``; bad bytes raise ValueDecodeError."""
        fields = self._decoder.decode(data, topic=topic, partition=partition, offset=offset)
        return self.record_type.from_avro(fields)
