"""``streamworks produce`` without a broker: reading NDJSON and arrays, keys, and records
checked against a JSON topic's record class (which needs no registry)."""

from __future__ import annotations

import asyncio
import json

import pytest

from streamworks.core.settings import Settings
from streamworks.ops.records import InputRecord, RecordInputError, encoder_for, key_of
from streamworks.ops.records import read_records as read
from streamworks.ops.records.input import Reject
from streamworks.pipeline.graph import TopicSpec
from tests.kit.records import Reading


def test_ndjson_gives_each_object_its_line_and_rejects_the_rest() -> None:
    text = '{"a": 1}\n\n  \n[1, 2]\n{"b": 2\n"text"\n{"c": NaN}\n{"d": 4}\n'
    records, rejects = read(text)
    assert records == [InputRecord(1, {"a": 1}), InputRecord(8, {"d": 4})]
    assert [str(r) for r in rejects] == [
        "line 4: expected a JSON object, got [1, 2]",
        "line 5: not JSON: Expecting ',' delimiter",
        'line 6: expected a JSON object, got "text"',
        "line 7: not JSON: NaN is not a JSON number",
    ]


def test_an_array_gives_each_object_the_line_it_starts_on() -> None:
    text = '\n[\n  {"a": 1},\n  {\n    "b": 2\n  }, 3,\n  {"c": 3}\n]\n'
    records, rejects = read(text)
    assert records == [
        InputRecord(3, {"a": 1}),
        InputRecord(4, {"b": 2}),
        InputRecord(7, {"c": 3}),
    ]
    assert rejects == [Reject(6, "expected a JSON object, got 3")]
    assert read("[]") == ([], [])
    assert read("") == ([], [])


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ('[{"a": 1},\n {"b": }]', 2, "not JSON"),
        ('[{"a": 1}\n {"b": 2}]', 2, "expected , or ]"),
        ('[{"a": 1},\n', 2, "not JSON"),
        ('[{"a": 1}]\n{"b": 2}', 2, "text after the JSON array"),
    ],
)
def test_a_broken_array_is_an_error_for_the_whole_input(text: str, line: int, says: str) -> None:
    with pytest.raises(RecordInputError, match=f"^line {line}: {says}") as caught:
        read(text)
    assert caught.value.line == line


def test_a_key_is_the_fields_value_as_text() -> None:
    record = InputRecord(3, {"id": "c-7", "n": 42, "x": 1.5, "ok": True, "none": None, "o": {}})
    assert key_of(record, "id") == b"c-7"
    assert key_of(record, "n") == b"42"
    assert key_of(record, "x") == b"1.5"
    assert key_of(record, "ok") == b"true"
    with pytest.raises(ValueError, match="no key: field missing is missing"):
        key_of(record, "missing")
    with pytest.raises(ValueError, match="field none is null, not text or a number"):
        key_of(record, "none")
    with pytest.raises(ValueError, match=r"field o is \{\}, not text or a number"):
        key_of(record, "o")


def _encode(*values: dict[str, object]) -> list[bytes | Reject]:
    """Each value checked and encoded for a JSON topic of readings."""

    async def run() -> list[bytes | Reject]:
        spec = TopicSpec("iot.readings", Reading, format="json")
        encoder = await encoder_for(Settings(), spec.name, spec)
        return [await encoder.encode(InputRecord(n, v)) for n, v in enumerate(values, 1)]

    return asyncio.run(run())


def test_json_values_are_read_by_the_record_class_rules_and_written_as_json() -> None:
    [written] = _encode({"sensor": "s1", "value": 3, "at": "2026-05-01T12:00:00.250+02:00"})
    assert isinstance(written, bytes)
    assert json.loads(written) == {
        "sensor": "s1",
        "value": 3.0,
        "at": "2026-05-01T10:00:00.250+00:00",
    }
    [from_epoch] = _encode({"sensor": "s1", "value": 1.5, "at": 1_777_629_600_000})
    assert isinstance(from_epoch, bytes)
    assert json.loads(from_epoch)["at"] == "2026-05-01T10:00:00.000+00:00"


def test_a_value_that_does_not_fit_the_record_class_names_the_line_and_every_field() -> None:
    good, bad, worse = _encode(
        {"sensor": "s1", "value": 1.0, "at": 0},
        {"sensor": "s2", "value": "abc", "at": 0},
        {"sensor": 7, "at": "noon", "colour": "red"},
    )
    assert isinstance(good, bytes)
    assert bad == Reject(
        2, "JSON value does not fit kit.Reading: value: expected a number, got 'abc'"
    )
    assert isinstance(worse, Reject)
    assert worse.line == 3
    for part in (
        "colour: unknown field",
        "sensor: expected text, got 7",
        "value: missing",
        "at: expected ISO 8601 time, got 'noon'",
    ):
        assert part in worse.reason
    assert "\n" not in str(worse)
