"""``streamworks consume`` without a broker: where to start, and records as JSON lines
(values that are not Avro need no registry)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aiokafka import ConsumerRecord

from streamworks.core.errors import StageError
from streamworks.core.lineage import LINEAGE_HEADER, LineageWriter, origin_id, origins
from streamworks.core.messages import InMessage
from streamworks.core.settings import Settings
from streamworks.ops.records import RecordRenderer, parse_start
from streamworks.runtime.dead_letters import dead_letter


def record(
    value: bytes | None, key: bytes | None = b"k1", headers: tuple[tuple[str, bytes], ...] = ()
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("t", 1, 42, 1_777_629_600_250, 0, key, value, None, 0, 0, headers)


def line(found: ConsumerRecord[bytes, bytes], *, json_topic: bool = False) -> dict[str, object]:
    text = RecordRenderer(Settings(), json_topic=json_topic).line(found)
    assert "\n" not in text
    parsed: dict[str, object] = json.loads(text)
    return parsed


def test_start_is_beginning_end_an_offset_or_a_time_in_utc() -> None:
    assert parse_start("beginning") == "beginning"
    assert parse_start("end") == "end"
    assert parse_start("120") == 120
    assert parse_start("2026-05-01T10:00:00") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert parse_start("2026-05-01T12:00:00+02:00") == datetime(
        2026, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))
    )
    assert parse_start("2026-05-01T10:00:00Z") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="'yesterday' is not beginning, end, an offset"):
        parse_start("yesterday")


def test_a_json_value_is_shown_as_json_with_where_and_when() -> None:
    assert line(record(b'{"sensor": "s1", "value": 2.5}')) == {
        "topic": "t",
        "partition": 1,
        "offset": 42,
        "timestamp": "2026-05-01T10:00:00.250+00:00",
        "key": "k1",
        "key_format": "text",
        "value": {"sensor": "s1", "value": 2.5},
        "value_format": "json",
        "headers": {},
    }


def test_bytes_that_are_neither_avro_nor_json_are_shown_as_base64() -> None:
    found = line(record(b"\xff\xfe not json", key=b"\xff\x00"))
    assert (found["value"], found["value_format"]) == (
        base64.b64encode(b"\xff\xfe not json").decode(),
        "base64",
    )
    assert "value_error" not in found
    assert (found["key"], found["key_format"]) == ("/wA=", "base64")
    on_json_topic = line(record(b"plain text"), json_topic=True)
    assert on_json_topic["value_format"] == "base64"
    assert on_json_topic["value_error"] == "not JSON, though the topic's format is json"


def test_a_tombstone_and_a_missing_key_are_null() -> None:
    found = line(record(None, key=None))
    assert (found["key"], found["key_format"], found["value"], found["value_format"]) == (
        None,
        None,
        None,
        None,
    )


def test_headers_are_text_and_a_dead_letters_explanation_reads_as_written() -> None:
    origin = InMessage("orders.raw", 3, 1200, b"c-1", b'{"a": 1}', 0, (("trace", b"\xff\x01"),))
    letter = dead_letter("clean", "orders.clean.dlq", origin, StageError("bad price"), 2)
    headers = line(record(letter.value, letter.key, letter.headers))["headers"]
    assert isinstance(headers, dict)
    assert headers["streamworks.dlq.stage"] == "clean"
    assert headers["streamworks.dlq.error.class"] == "streamworks.core.errors.StageError"
    assert headers["streamworks.dlq.error.message"] == "bad price"
    assert headers["streamworks.dlq.attempts"] == "2"
    assert headers["streamworks.dlq.origin.topic"] == "orders.raw"
    assert headers["streamworks.dlq.origin.partition"] == "3"
    assert headers["streamworks.dlq.origin.offset"] == "1200"
    assert "StageError: bad price" in headers["streamworks.dlq.error.traceback"]
    assert headers["trace"] == {"base64": "/wE="}


def test_a_header_name_that_repeats_lists_its_values() -> None:
    found = line(record(b"{}", headers=(("h", b"1"), ("h", b"2"), ("h", b"3"), ("g", b""))))
    assert found["headers"] == {"h": ["1", "2", "3"], "g": ""}


def test_the_lineage_header_reads_as_stage_topic_partition_and_offset() -> None:
    lineage = LineageWriter("clean").header("orders.raw", 3, 1200)
    found = record(b"{}", headers=(lineage,))
    named = RecordRenderer(Settings(), origins=origins([("clean", ["orders.raw"])]))
    assert json.loads(named.line(found))["headers"][LINEAGE_HEADER] == {
        "stage": "clean",
        "topic": "orders.raw",
        "partition": 3,
        "offset": 1200,
    }
    unnamed = line(found)["headers"]
    assert isinstance(unnamed, dict)
    assert unnamed[LINEAGE_HEADER] == {
        "origin": f"{origin_id('clean', 'orders.raw'):08x}",
        "partition": 3,
        "offset": 1200,
    }
