"""Running a user's project, in a folder of its own, as the user would."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["outside_env", "write_project"]


def outside_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would put this repository's project in
    reach (PYTHONPATH, STREAMWORKS_PROJECT, a Kafka home), plus ``extra``."""
    hidden = ("PYTHONPATH", "STREAMWORKS_PROJECT", "STREAMWORKS_KAFKA_HOME")
    return {k: v for k, v in os.environ.items() if k not in hidden} | extra


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text) under ``root``; return ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
