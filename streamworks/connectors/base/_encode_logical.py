"""Avro binary writers for logical types (timestamps, dates, UUIDs, decimals), coercing too.

Same contract as :mod:`streamworks.connectors.base._encode_scalars`: accept what the coercer
accepts, raise its Invalid otherwise, append the Avro encoding of what fastavro would write for the
coerced value (millis or micros since the epoch, days since 1970-01-01, canonical UUID
text, the decimal's unscaled two's-complement bytes).
"""

from __future__ import annotations

import decimal
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streamworks.connectors.base._coerce import Invalid, _shown
from streamworks.connectors.base._encode_scalars import (
    Buffer,
    Unencodable,
    Writer,
    put_long,
    put_problem,
)

__all__ = ["date_days", "decimal_bytes", "timestamp", "uuid_text"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_DAYS = (1 - _EPOCH_DAY, date.max.toordinal() - _EPOCH_DAY)
_EXACT_MS = 2**42
"""Epoch millis up to this size survive the coercer's ``fromtimestamp(ms / 1000)`` unchanged
(the float's error stays under half a microsecond), so they are written as they are."""
_DIGITS = 18
"""Digit strings this short are read as epoch millis here; longer ones take the coercer's way."""


def timestamp(micros: bool, text: bool) -> Writer:
    """timestamp-millis/-micros from a datetime, ISO 8601 text or epoch millis."""
    unit = timedelta(microseconds=1) if micros else timedelta(milliseconds=1)
    scale = 1000 if micros else 1

    def write(value: Any, path: str, out: Buffer) -> None:
        if text and type(value) is str:
            digits = value.strip()
            if len(digits) <= _DIGITS and digits.isascii() and digits.isdigit():  # CSV millis
                value = int(digits)
        if type(value) is int and -_EXACT_MS <= value <= _EXACT_MS:
            put_long(out, value * scale)
        else:
            put_long(out, (_instant(value, path, text) - _EPOCH) // unit)

    return write


def _instant(value: Any, path: str, text: bool) -> datetime:
    """The aware datetime the coercer makes of ``value`` (same steps, same errors)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and text and value.strip().lstrip("-").isdigit():
        try:
            value = int(value.strip())
        except ValueError:  # digits int() does not read (superscripts, "--1"): coercer crashed
            reason = f"expected ISO 8601 text or epoch millis, got {_shown(value)}"
            raise Unencodable(path, reason) from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise Invalid(path, f"{value} is not a valid epoch-millisecond time") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(path, f"expected ISO 8601 time, got {_shown(value)}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise Invalid(path, f"expected ISO 8601 text or epoch millis, got {_shown(value)}")


def date_days(value: Any, path: str, out: Buffer) -> None:
    """A date from ISO text or a day count since 1970-01-01."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not _DAYS[0] <= value <= _DAYS[1]:  # the coercer let date.fromordinal raise here
            raise Unencodable(path, f"{value} days from 1970-01-01 is not a valid date")
        put_long(out, int(value))
        return
    if isinstance(value, str):
        try:
            put_long(out, date.fromisoformat(value.strip()).toordinal() - _EPOCH_DAY)
        except ValueError:
            pass
        else:
            return
    raise Invalid(path, f"expected an ISO date, got {_shown(value)}")


def uuid_text(value: Any, path: str, out: Buffer) -> None:
    """A UUID from text in any of the spellings uuid.UUID reads, written canonical."""
    try:
        canonical = str(uuid.UUID(value.strip()))
    except (AttributeError, ValueError):
        raise Invalid(path, f"expected a UUID, got {_shown(value)}") from None
    except TypeError:  # bytes: the coercer let this escape
        raise Unencodable(path, f"expected a UUID, got {_shown(value)}") from None
    out.append(len(canonical) << 1)
    out += canonical.encode()


def decimal_bytes(scale: int, precision: int | None) -> Writer:
    """A decimal (bytes logical type): the unscaled two's-complement big-endian integer."""
    quantum = decimal.Decimal(1).scaleb(-scale)

    def write(value: Any, path: str, out: Buffer) -> None:
        if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
            raise Invalid(path, f"expected a decimal number, got {_shown(value)}")
        try:
            exact = decimal.Decimal(str(value).strip())
            rounded = exact.quantize(quantum, rounding=decimal.ROUND_HALF_EVEN)
        except decimal.InvalidOperation:
            raise Invalid(path, f"expected a decimal number, got {_shown(value)}") from None
        except ValueError:  # str() of an integer of thousands of digits: the coercer crashed
            raise Unencodable(path, f"expected a decimal number, got {_shown(value)}") from None
        sign, digits, exponent = rounded.as_tuple()
        if not rounded.is_finite():
            put_problem(out, Unencodable(path, f"expected a decimal number, got {_shown(value)}"))
        elif precision is None:
            put_problem(out, Unencodable(path, "the schema's decimal has no precision"))
        elif len(digits) > precision:
            reason = f"{rounded} has more than the {precision} digits the schema allows"
            put_problem(out, Unencodable(path, reason))
        else:
            assert isinstance(exponent, int)  # noqa: S101 - finite, checked above
            unscaled = int("".join(map(str, digits))) * 10 ** (exponent + scale)
            size = (unscaled.bit_length() + 8) // 8  # fastavro's size: one sign bit to spare
            data = (-unscaled if sign else unscaled).to_bytes(size, "big", signed=True)
            put_long(out, len(data))
            out += data

    return write
