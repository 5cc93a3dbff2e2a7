"""The JSONL sink: lines, durable flushes, rotation by size and age, files left by a crash."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

from streamworks.connectors.base import SinkRecord
from streamworks.connectors.files import JsonlSink, JsonlSinkConfig
from streamworks.testing.helpers import wait_for


class FakeSinkContext:
    @property
    def name(self) -> str:
        return "jsonl-test"

    def value_schema(self, topic: str) -> dict[str, Any]:
        raise NotImplementedError


def records(first: int, count: int, *, pad: int = 0) -> list[SinkRecord]:
    return [
        SinkRecord("t", 0, n, f"k{n}", {"n": n, "pad": "x" * pad}, 1_000 + n)
        for n in range(first, first + count)
    ]


def sink(directory: Path, **overrides: Any) -> JsonlSink:
    options: dict[str, Any] = {"name": "jsonl-test", "topics": ["t"], "directory": directory}
    return JsonlSink(JsonlSinkConfig(**(options | overrides)))


def complete(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def parts(directory: Path) -> list[Path]:
    return list(directory.glob("*.part"))


def lines(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for p in paths for line in p.read_text().splitlines()]


async def test_lines_are_visible_only_as_complete_files_after_close(tmp_path: Path) -> None:
    s = sink(tmp_path, prefix="orders")
    await s.start(FakeSinkContext())
    await s.write(records(0, 3))
    await s.flush()
    assert complete(tmp_path) == []
    (part,) = parts(tmp_path)
    assert len(part.read_text().splitlines()) == 3  # flushed to disk
    await s.close()
    (done,) = complete(tmp_path)
    assert done.name.startswith("orders-") and done.name.endswith("-0.jsonl")
    assert not parts(tmp_path)
    assert lines([done])[0] == {
        "topic": "t",
        "partition": 0,
        "offset": 0,
        "key": "k0",
        "timestamp": "1970-01-01T00:00:01.000Z",
        "value": {"n": 0, "pad": ""},
    }


async def test_files_rotate_before_they_grow_past_rotate_bytes(tmp_path: Path) -> None:
    s = sink(tmp_path, rotate_bytes=1024)
    await s.start(FakeSinkContext())
    for first in range(0, 60, 6):
        await s.write(records(first, 6, pad=40))
        await s.flush()
    await s.close()
    files = complete(tmp_path)
    assert len(files) > 3
    assert all(p.stat().st_size <= 1024 for p in files)
    assert [line["offset"] for line in lines(files)] == list(range(60))


async def test_files_rotate_by_age_even_without_new_records(tmp_path: Path) -> None:
    s = sink(tmp_path, rotate_s=0.05)
    await s.start(FakeSinkContext())
    await s.write(records(0, 2))
    await s.flush()
    await wait_for(lambda: bool(complete(tmp_path)), timeout=5, interval=0.01, what="rotation")
    await s.write(records(2, 1))
    await s.close()
    assert [line["offset"] for line in lines(complete(tmp_path))] == [0, 1, 2]


async def test_a_crashed_writers_part_file_is_finished_without_its_torn_line(
    tmp_path: Path,
) -> None:
    left = tmp_path / "records-20260101T000000Z-0.jsonl.part"
    left.write_bytes(b'{"offset": 1}\n{"offset": 2}\n{"offs')
    s = sink(tmp_path)
    await s.start(FakeSinkContext())
    await s.write(records(3, 1))
    await s.close()
    finished = tmp_path / "records-20260101T000000Z-0.jsonl"
    assert finished.read_bytes() == b'{"offset": 1}\n{"offset": 2}\n'
    assert len(complete(tmp_path)) == 2


async def test_a_live_writers_part_file_is_left_alone(tmp_path: Path) -> None:
    live = tmp_path / "records-20260101T000000Z-0.jsonl.part"
    with live.open("wb") as handle:
        handle.write(b'{"offset": 1}\n')
        handle.flush()
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        s = sink(tmp_path)
        await s.start(FakeSinkContext())
        await s.close()
        assert live.exists()
        assert complete(tmp_path) == []
