"""The PostgreSQL sink's configuration, its missing-dependency hint and the local launcher."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from streamworks.connectors.base import ConnectorConfigError
from streamworks.connectors.kinds import KINDS
from streamworks.connectors.postgres import URL_ENV, LocalPostgresError, PostgresSinkConfig
from streamworks.connectors.postgres import local as local_module
from streamworks.connectors.postgres.sink import PostgresSink

URL = "postgresql://app:s3cret@127.0.0.1:5432/shop"


def config(**fields: Any) -> PostgresSinkConfig:
    base: dict[str, Any] = {
        "name": "orders-to-pg",
        "kind": "postgres",
        "topics": ["orders.enriched"],
        "url": URL,
        "table": "orders",
        "key": ["order_id"],
    }
    return PostgresSinkConfig.model_validate(base | fields)


def test_a_minimal_config_builds_the_sink_and_hides_the_password() -> None:
    found = config()
    assert KINDS["postgres"].config is PostgresSinkConfig
    assert found.create_table is True
    assert "s3cret" not in repr(found)
    sink = KINDS["postgres"].build(found)
    assert isinstance(sink, PostgresSink)
    assert sink.name == "orders-to-pg"
    assert "s3cret" not in sink._where
    assert sink._where == "table orders in postgres 127.0.0.1:5432/shop"


def test_the_url_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = {"name": "n", "topics": ["t"], "table": "orders", "key": ["id"]}
    monkeypatch.delenv(URL_ENV, raising=False)
    with pytest.raises(ValidationError, match="url"):
        PostgresSinkConfig.model_validate(fields)
    monkeypatch.setenv(URL_ENV, URL)
    assert PostgresSinkConfig.model_validate(fields).url.get_secret_value() == URL
    assert config(url="postgresql://other/db").url.get_secret_value() == "postgresql://other/db"


@pytest.mark.parametrize("table", ["sales.orders", "_t1", "Orders"])
def test_plain_and_schema_qualified_tables_are_accepted(table: str) -> None:
    assert config(table=table).table == table


@pytest.mark.parametrize(
    "table", ["", "1orders", "orders; DROP TABLE x", "a.b.c", 'or"ders', "x" * 64, "a-b"]
)
def test_tables_that_are_not_plain_identifiers_are_refused(table: str) -> None:
    with pytest.raises(ValidationError, match="table"):
        config(table=table)


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"key": []}, "key"),
        ({"key": ["id", "id"]}, "key names a field twice"),
        ({"kind": "jsonl"}, "kind"),
        ({"tabel": "orders"}, "tabel"),
        ({"topics": []}, "topics"),
    ],
)
def test_bad_settings_name_the_key(fields: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        config(**fields)


def test_without_psycopg_the_sink_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "psycopg" or m.startswith("psycopg.")]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("streamworks.connectors.postgres.sink", "streamworks.connectors.postgres._table"):
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "streamworks.connectors.postgres.types")
    monkeypatch.delitem(sys.modules, "streamworks.connectors.postgres._sql")
    monkeypatch.delitem(sys.modules, "streamworks.connectors.postgres._rows")
    with pytest.raises(ConnectorConfigError, match=r"pip install 'streamworks\[postgres\]'"):
        importlib.import_module("streamworks.connectors.postgres.sink")


def test_without_server_binaries_the_launcher_says_how_to_install_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(local_module, "_DEBIAN_ROOT", tmp_path / "nowhere")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalPostgresError, match="apt-get install postgresql"):
        local_module.LocalPostgres(tmp_path / "pg")


def test_the_launcher_takes_the_newest_server_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for version in ("9", "13", "15", "latest"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "initdb").touch()
    monkeypatch.setattr(local_module, "_DEBIAN_ROOT", tmp_path)
    assert local_module.find_binaries() == tmp_path / "15" / "bin"


def test_the_launcher_refuses_names_it_would_have_to_quote(tmp_path: Path) -> None:
    with pytest.raises(LocalPostgresError, match="plain identifiers"):
        local_module.LocalPostgres(tmp_path / "pg", database="shop; drop")
