"""Line formats: CSV and JSONL lines in, JSON documents of sink records out."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid

import pytest

from streamworks.connectors.base import SinkRecord
from streamworks.connectors.base.documents import record_document, to_json
from streamworks.connectors.files._formats import MalformedLine, format_of, parser_for


def test_formats_follow_the_suffix() -> None:
    assert format_of("a.CSV") == "csv"
    assert format_of("a.jsonl") == format_of("a.ndjson") == "jsonl"
    assert format_of("a.txt") is None


def test_csv_lines_map_header_names_to_text() -> None:
    parse = parser_for("csv", b"\xef\xbb\xbfid; name \r\n", ";")
    assert parse(b"1;Ann\r\n") == {"id": "1", "name": "Ann"}
    assert parse(b'2;"Smith; Jo"\n') == {"id": "2", "name": "Smith; Jo"}
    assert parse(b"3;\n") == {"id": "3", "name": ""}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"1\n", "1 columns where the header has 2"),
        (b'1,"open\n', "not valid CSV"),
        (b"1,\xff\n", "not UTF-8"),
    ],
)
def test_bad_csv_lines_say_why(line: bytes, reason: str) -> None:
    with pytest.raises(MalformedLine, match=reason):
        parser_for("csv", b"id,name\n")(line)


@pytest.mark.parametrize("header", [b"a,,b\n", b"a,a\n", None])
def test_unusable_csv_headers_are_refused(header: bytes | None) -> None:
    with pytest.raises(MalformedLine, match="header"):
        parser_for("csv", header)


@pytest.mark.parametrize(
    ("line", "reason"),
    [(b"{oops}\n", "not JSON"), (b"[1]\n", "expected a JSON object, got list")],
)
def test_bad_json_lines_say_why(line: bytes, reason: str) -> None:
    with pytest.raises(MalformedLine, match=reason):
        parser_for("jsonl")(line)


def test_a_sink_record_becomes_a_json_document_with_plain_types() -> None:
    order = uuid.UUID(int=7)
    record = SinkRecord(
        "orders.enriched",
        2,
        41,
        str(order),
        {
            "order_id": order,
            "at": dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC),
            "day": dt.date(2026, 11, 27),
            "blob": b"\x00\xff",
            "price": decimal.Decimal("12.50"),
        },
        1_795_770_000_123,
    )
    doc = json.loads(to_json(record_document(record)))
    assert doc == {
        "topic": "orders.enriched",
        "partition": 2,
        "offset": 41,
        "key": str(order),
        "timestamp": "2026-11-27T09:00:00.123Z",
        "value": {
            "order_id": str(order),
            "at": "2026-11-27T09:00:00+00:00",
            "day": "2026-11-27",
            "blob": "AP8=",
            "price": "12.50",
        },
    }


def test_a_tombstone_has_a_null_value() -> None:
    doc = json.loads(to_json(record_document(SinkRecord("t", 0, 1, "k", None, 0))))
    assert doc["value"] is None
