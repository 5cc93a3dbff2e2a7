"""A faust-streaming codec, so agents receive and emit typed Avro records.

Use it as a topic's value serializer::

    valid = FaustAvroCodec(RecordCodec(ValidOrder, codec))
    orders = app.topic("orders.valid", value_serializer=valid)

faust wraps a decoding failure in its own ``ValueDecodeError`` and hands it to the stream's
error handling; the stage runtime decodes with :class:`~streamworks.schemas.typed.RecordCodec`
directly instead, so the dead letter keeps topic, partition and offset.
"""

from __future__ import annotations

from typing import Any

from faust.serializers.codecs import Codec

from streamworks.schemas.records import AvroRecord
from streamworks.schemas.typed import RecordCodec

__all__ = ["FaustAvroCodec"]


class FaustAvroCodec(Codec):
    """faust codec around a :class:`~streamworks.schemas.typed.RecordCodec`."""

    def __init__(self, records: RecordCodec[Any], **kwargs: Any) -> None:
        super().__init__(records=records, **kwargs)
        self._records = records

    def _dumps(self, obj: Any) -> bytes:
        if not isinstance(obj, AvroRecord):
            obj = self._records.record_type.from_avro(obj)
        return self._records.encode(obj)

    def _loads(self, s: bytes) -> Any:
        return self._records.decode(s)
