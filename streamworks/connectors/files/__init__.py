"""Files in and out: a source for CSV and JSONL files dropped in a directory, a JSONL sink."""

from streamworks.connectors.files.config import DoneAction, FileSourceConfig, JsonlSinkConfig
from streamworks.connectors.files.sink import JsonlSink
from streamworks.connectors.files.source import FileSource

__all__ = [
    "DoneAction",
    "FileSource",
    "FileSourceConfig",
    "JsonlSink",
    "JsonlSinkConfig",
]
