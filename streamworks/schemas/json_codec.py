"""JSON values: one record type as a UTF-8 JSON object, checked against its Avro contract.

A topic declared ``TopicSpec(..., format="json")`` carries these instead of registry-framed
Avro; no schema registry is involved. The record class's contract
(:func:`~streamworks.schemas.catalog.contract_of`) drives both directions, so a
hand-written ``.avsc`` with defaults works as it does for Avro: a field missing from the
JSON takes the schema's default. A value that does not fit raises
:class:`~streamworks.schemas.errors.ValueDecodeError` naming every missing, unknown and
wrong-typed field by its dotted path (``reading.at: expected ISO 8601 time, got 'noon'``).

=================================  ==========================================================
Python (Avro)                      JSON
=================================  ==========================================================
``str`` / ``bool``                 string / true, false
``int`` (int, long)                a number without a fraction (``3.0`` is read as 3)
``float`` (float, double)          a number (NaN and infinities have no JSON form: refused)
``bytes`` (bytes, fixed)           base64 text (standard alphabet, padded)
``X | None``                       the value or null; other unions: the first branch that fits
``list`` / ``tuple`` (array)       an array
``dict[str, X]`` (map)             an object
a nested record                    an object
a ``StrEnum`` (enum)               the member's value
``datetime`` (timestamp-millis)    ISO 8601 text in UTC with its offset,
                                   ``2026-05-01T10:00:00.250+00:00``; read: any offset
                                   (converted to UTC; none means UTC) or epoch milliseconds
                                   as a number, cut to the millisecond as Avro is
``datetime`` (timestamp-micros)    the same, to the microsecond
``date`` (date)                    ``2026-05-01``; read: also days since 1970-01-01
``UUID`` (uuid)                    its text, ``8c0f...-...``; read: any form ``UUID()`` takes
``Decimal`` (decimal)              text at the schema's scale, ``"12.50"``; read: text or a
                                   number, refused when it has more places or digits than
                                   the schema allows (never rounded)
=================================  ==========================================================

Written objects list the schema's fields in order, without spaces. The rules are close to
the connectors' coercion of JSON (:mod:`streamworks.connectors`), which is a layer above.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import orjson

from streamworks.schemas._json_read import compile_reader
from streamworks.schemas._json_values import Invalid
from streamworks.schemas._json_write import compile_writer
from streamworks.schemas.catalog import contract_of
from streamworks.schemas.codec import MAGIC_BYTE
from streamworks.schemas.errors import EncodeError, ValueDecodeError
from streamworks.schemas.records import AvroRecord

__all__ = ["JsonRecordCodec"]

R = TypeVar("R", bound=AvroRecord)


class JsonRecordCodec(Generic[R]):
    """Encodes and decodes one record type as JSON objects, checked against its contract.

    The schema is compiled once, here, into a reader and a writer; ``encode`` and
    ``decode`` are the hot path. A contract that cannot be compiled (a default that does
    not fit its field's type) raises :class:`~streamworks.schemas.errors.InvalidSchemaError`.
    """

    def __init__(self, record_type: type[R]) -> None:
        found = contract_of(record_type)
        self.record_type = record_type
        self.record_name = found.record_name
        """The record's full name, as error messages give it."""
        self._read = compile_reader(found.schema)
        self._write = compile_writer(found.schema)

    def encode(self, record: R) -> bytes:
        """The UTF-8 JSON object of ``record``; a record that does not fit raises EncodeError."""
        try:
            return orjson.dumps(self._write(record.to_avro()))
        except Invalid as error:
            raise EncodeError(
                f"{self.record_name} does not fit its schema as JSON: {error}"
            ) from error
        except orjson.JSONEncodeError as error:  # text that is not valid UTF-8 (a lone surrogate)
            raise EncodeError(f"{self.record_name} cannot be written as JSON: {error}") from error

    def decode(
        self,
        data: bytes | None,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> R:
        """The typed record in ``data``; a value that is not a fitting JSON object raises
        ValueDecodeError."""
        try:
            return self.record_type.from_avro(self._read(orjson.loads(data or b"")))
        except Invalid as error:
            reason = f"JSON value does not fit {self.record_name}: {error}"
        except orjson.JSONDecodeError as error:
            reason = _not_json(data, error)
        except (ValueError, TypeError) as error:  # the class refuses a value its schema takes
            reason = f"JSON value does not fit the class {self.record_type.__name__}: {error}"
        raise ValueDecodeError(reason, topic=topic, partition=partition, offset=offset)


def _not_json(data: bytes | None, error: orjson.JSONDecodeError) -> str:
    if not data:
        return "empty value, not a JSON object"
    if data[0] == MAGIC_BYTE:
        return (
            "Avro-framed value on a JSON topic (it starts with the magic byte 0 of the "
            "registry's wire format): the producer should write JSON, or the topic be "
            "declared format='avro'"
        )
    return f"not JSON: {error}"
