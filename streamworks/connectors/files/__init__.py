"""Files in and out: a source for CSV and JSONL files dropped in a directory, a JSONL sink."""

from streamworks.connectors.base.kind import Kind, register_kind
from streamworks.connectors.files.config import DoneAction, FileSourceConfig, JsonlSinkConfig
from streamworks.connectors.files.sink import JsonlSink
from streamworks.connectors.files.source import FileSource

__all__ = [
    "FILES",
    "JSONL",
    "DoneAction",
    "FileSource",
    "FileSourceConfig",
    "JsonlSink",
    "JsonlSinkConfig",
]

FILES = register_kind(Kind(FileSourceConfig, FileSource))
"""``kind: files``: the file source."""
JSONL = register_kind(Kind(JsonlSinkConfig, JsonlSink))
"""``kind: jsonl``: the JSON-lines file sink."""
