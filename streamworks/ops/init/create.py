"""``streamworks init DIR``: a new project laid out as the streamworks repository is.

The template (``template/``, every file ending in ``.tmpl``) is copied with three words
filled in: ``__NAME__`` (the project's name, from the folder), ``__PACKAGE__`` (the same as
an Avro namespace) and ``__SOURCE__`` (where the project's ``Makefile`` installs streamworks
from: this checkout when streamworks runs from one, a wheel file it was installed from, or
its name on a package index).
"""

from __future__ import annotations

import json
import re
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from urllib.parse import unquote, urlparse

from streamworks.core.errors import ConfigurationError

__all__ = ["create_project", "install_source", "project_name"]

_SUFFIX = ".tmpl"
_RENAMED = {"gitignore": ".gitignore"}


def project_name(folder: Path) -> str:
    """The project's name from its folder: lower case, words joined by ``-``."""
    name = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")
    if not name or not name[0].isalpha():
        raise ConfigurationError(
            f"cannot make a project name of {folder.name!r}; use a folder whose name starts "
            "with a letter, e.g. streamworks init my-pipelines"
        )
    return name


def install_source() -> str:
    """Where streamworks was installed from, as ``pip install`` takes it."""
    for distribution in metadata.distributions(name="streamworks"):
        text = distribution.read_text("direct_url.json")  # a checkout's egg-info has none
        url = json.loads(text).get("url", "") if text else ""
        if url.startswith("file://"):
            return unquote(urlparse(url).path)
    return "streamworks"


def create_project(folder: Path, *, source: str | None = None) -> list[Path]:
    """Write a new project into ``folder`` (absent or empty); return the files written."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigurationError(
            f"{folder} already exists and is not empty; streamworks init writes a new project "
            "into a new (or empty) folder"
        )
    name = project_name(folder)
    words = {
        "__NAME__": name,
        "__PACKAGE__": name.replace("-", "_"),
        "__SOURCE__": source or install_source(),
    }
    written: list[Path] = []
    for relative, template in _templates(resources.files(__package__) / "template", ""):
        text = template.read_text(encoding="utf-8")
        for word, value in words.items():
            text = text.replace(word, value)
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def _templates(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    """``(path in the project, template)`` for every template under ``folder``."""
    found: list[tuple[str, Traversable]] = []
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.is_dir():
            if item.name != "__pycache__":
                found += _templates(item, f"{prefix}{item.name}/")
        elif item.name.endswith(_SUFFIX):
            stem = item.name.removesuffix(_SUFFIX)
            found.append((prefix + _RENAMED.get(stem, stem), item))
    return found
