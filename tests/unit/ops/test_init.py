"""``streamworks init``: the files of a new project, named after its folder."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from streamworks import ConfigurationError
from streamworks.ops.init import create_project, project_name

LAYOUT = {
    "pyproject.toml",
    "docker-compose.yml",
    "Makefile",
    "README.md",
    ".gitignore",
    "streams/views.py",
    "schemas/records.py",
    "connectors/views.yaml",
    "ops/demo.py",
    "ops/Dockerfile",
    "tests/test_views.py",
    "tests/test_views_on_kafka.py",
    "data/sample-views.jsonl",
}


def test_a_new_project_has_the_repository_layout(tmp_path: Path) -> None:
    folder = tmp_path / "Shop Events"
    written = create_project(folder, source="/opt/streamworks")
    names = {path.relative_to(folder).as_posix() for path in written}
    assert names >= LAYOUT
    assert not any(name.endswith(".tmpl") for name in names)
    pyproject = tomllib.loads((folder / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "shop-events"
    assert pyproject["tool"]["streamworks"]["pipelines"] == {"views": "streams.views:build"}
    assert "STREAMWORKS ?= /opt/streamworks" in (folder / "Makefile").read_text()
    assert 'namespace="shop_events"' in (folder / "schemas/records.py").read_text()
    for path in written:
        assert "__NAME__" not in path.read_text() and "__SOURCE__" not in path.read_text()
        if path.suffix == ".py":
            ast.parse(path.read_text(), str(path))  # every module is Python


def test_a_folder_with_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match="not empty"):
        create_project(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(("folder", "name"), [("my_views", "my-views"), ("Pipes2", "pipes2")])
def test_names_come_from_the_folder(folder: str, name: str) -> None:
    assert project_name(Path(folder)) == name


def test_a_name_must_start_with_a_letter() -> None:
    with pytest.raises(ConfigurationError, match="starts with a letter"):
        project_name(Path("2fast"))
