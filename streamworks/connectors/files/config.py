"""Configuration of the file source and the JSONL file sink."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from streamworks.connectors.base.config import SinkConfig, SourceConfig

__all__ = ["DoneAction", "FileSourceConfig", "JsonlSinkConfig"]

DoneAction = Literal["keep", "move"]
"""What becomes of a file read to its end: left in place, or moved to ``done/``."""

_MIB = 1024 * 1024


class FileSourceConfig(SourceConfig):
    """CSV and JSONL files dropped into a directory, each read once, resumably."""

    kind: Literal["files"] = "files"
    directory: Path = Field(description="The directory watched (not its subdirectories).")
    patterns: list[str] = Field(
        default_factory=lambda: ["*.csv", "*.jsonl"],
        min_length=1,
        description="File name globs; .csv files are CSV, any other JSON lines.",
    )
    poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often the directory is listed for new data."
    )
    settle_s: float = Field(
        default=2.0,
        ge=0,
        description="A file unchanged this long is complete: its last line counts even "
        "without a newline, and the file is marked done.",
    )
    batch_lines: int = Field(
        default=1_000, ge=1, le=100_000, description="Lines per produce step (one position)."
    )
    done_action: DoneAction = Field(
        default="keep", description="keep: leave done files; move: move them to done/."
    )
    csv_delimiter: str = Field(
        default=",", min_length=1, max_length=1, description="The CSV field separator."
    )
    exit_when_done: bool = Field(
        default=False,
        description="Return once every matching file is done (a one-off import) instead "
        "of watching the directory for ever.",
    )


class JsonlSinkConfig(SinkConfig):
    """Topics appended to JSON-lines files that rotate by size and age."""

    kind: Literal["jsonl"] = "jsonl"
    directory: Path = Field(description="Where the files are written (created if missing).")
    prefix: str = Field(
        default="records",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="File names are <prefix>-<start time>-<seq>.jsonl; one prefix per worker.",
    )
    rotate_bytes: int = Field(
        default=64 * _MIB, ge=1024, description="Start a new file before one grows past this."
    )
    rotate_s: float = Field(
        default=3600.0, gt=0, description="Close a file this long after it was opened."
    )
