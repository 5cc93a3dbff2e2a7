"""Reading request bodies, and the HTTP source's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from streamworks.connectors.base import kind_of
from streamworks.connectors.http import HttpSource, HttpSourceConfig
from streamworks.connectors.http._parsing import Problem, parse_json, parse_ndjson
from streamworks.connectors.kinds import load_file


def test_a_json_object_or_array_gives_records_by_index() -> None:
    assert parse_json(b'{"a": 1}').records == [(0, {"a": 1})]
    parsed = parse_json(b'[{"a": 1}, 2, {"b": null}]')
    assert parsed.records == [(0, {"a": 1}), (2, {"b": None})]
    assert parsed.problems == [Problem("expected an object, got a number", index=1)]
    assert parsed.location(2) == "record 2"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "malformed JSON"),
        (b'{"a": 1} x', "malformed JSON"),
        (b'{"a": NaN}', "malformed JSON"),
        (b'{"a": 1e400}', "malformed JSON"),
        (b'{"a": "\xff"}', "malformed JSON"),
        (b"[" * 5_000 + b"]" * 5_000, "malformed JSON"),
        (b'"text"', "got a string"),
        (b"null", "got null"),
    ],
)
def test_bad_json_is_one_problem_of_the_body(body: bytes, reason: str) -> None:
    parsed = parse_json(body)
    assert parsed.records == []
    [problem] = parsed.problems
    assert reason in problem.message
    assert (problem.index, problem.line) == (None, None)


def test_ndjson_counts_lines_from_one_and_skips_blank_ones() -> None:
    parsed = parse_ndjson(b'\n{"a": 1}\r\n  \n{"a": \n[1]\n{"b": 2}')
    assert parsed.records == [(2, {"a": 1}), (6, {"b": 2})]
    assert [(p.line, p.message.split(":")[0]) for p in parsed.problems] == [
        (4, "malformed JSON"),
        (5, "expected an object, got an array"),
    ]
    assert parsed.location(6) == "line 6"
    assert parsed.problem(6, "bad", "a").to_json() == {"line": 6, "field": "a", "message": "bad"}


def test_the_config_defaults_to_its_own_topic_and_builds_the_source() -> None:
    config = HttpSourceConfig(name="ingest", topic="orders.raw")
    assert config.allowed_topics == ("orders.raw",)
    assert (config.host, config.port, config.max_body_bytes) == ("127.0.0.1", 8088, 10 * 2**20)
    assert isinstance(kind_of(HttpSourceConfig).build(config), HttpSource)
    wider = HttpSourceConfig(
        name="ingest", topic="a", topics=["a", "b"], token=SecretStr("hush-hush")
    )
    assert wider.allowed_topics == ("a", "b")
    assert wider.token is not None
    assert "hush-hush" not in repr(wider)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topics": ["b"]}, "must be one of topics"),
        ({"topics": []}, "at least 1 item"),
        ({"port": 70_000}, "less than or equal to 65535"),
        ({"max_pending": 0}, "greater than or equal to 1"),
        ({"prot": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_configs_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HttpSourceConfig.model_validate({"name": "ingest", "topic": "a", "kind": "http", **change})


def test_a_connector_file_names_the_http_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_TOKEN", "from-the-environment")
    path = tmp_path / "connect.yaml"
    path.write_text(
        "connectors:\n"
        "  - name: web-orders\n"
        "    kind: http\n"
        "    topic: orders.raw\n"
        "    port: 0\n"
        "    token: ${INGEST_TOKEN}\n"
    )
    [config] = load_file(path)
    assert isinstance(config, HttpSourceConfig)
    assert config.token is not None
    assert config.token.get_secret_value() == "from-the-environment"
