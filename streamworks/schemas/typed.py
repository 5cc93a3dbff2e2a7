"""Typed records over the codec: encode a record object, decode straight into one."""

from __future__ import annotations

from typing import Generic, TypeVar

from streamworks.schemas.catalog import contract_of
from streamworks.schemas.codec import AvroCodec, AvroEncoder
from streamworks.schemas.errors import EncodeError
from streamworks.schemas.records import AvroRecord

__all__ = ["RecordCodec"]

R = TypeVar("R", bound=AvroRecord)


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
