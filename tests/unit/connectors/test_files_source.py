"""The file source against an in-memory runtime: formats, batches, resume, bad lines, done."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from streamworks.connectors.base import ConversionError, Position
from streamworks.connectors.files import FileSource, FileSourceConfig
from streamworks.testing.helpers import wait_for
from tests.unit.connectors.fakes import MemoryContext


class FakeContext(MemoryContext):
    """The in-memory runtime, named as the file source's tests expect."""

    def __init__(self, positions: dict[str, Position] | None = None, stop_after: int = 0) -> None:
        super().__init__("files-test", positions=positions, stop_after=stop_after)


def config(directory: Path, **overrides: Any) -> FileSourceConfig:
    options: dict[str, Any] = {
        "name": "files-test",
        "topic": "orders.raw",
        "directory": directory,
        "poll_interval_s": 0.01,
        "settle_s": 0.5,
        "exit_when_done": True,
    }
    return FileSourceConfig(**(options | overrides))


def settled(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` and date it in the past, so it counts as complete."""
    path.write_bytes(data)
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


async def run(cfg: FileSourceConfig, context: FakeContext) -> None:
    await asyncio.wait_for(FileSource(cfg).run(context), timeout=10)


async def test_csv_rows_are_text_records_named_by_header(tmp_path: Path) -> None:
    settled(tmp_path / "a.csv", b"order_id,amount\n1,12.50\n2, 3 \n")
    context = FakeContext()
    await run(config(tmp_path), context)
    assert [r.value for r in context.records] == [
        {"order_id": "1", "amount": "12.50"},
        {"order_id": "2", "amount": " 3 "},
    ]
    assert all(r.text and r.topic == "orders.raw" for r in context.records)
    assert [r.location for r in context.records] == ["a.csv line 2", "a.csv line 3"]
    final = context.positions["a.csv"]
    assert final["done"] is True
    assert final["offset"] == final["size"] == (tmp_path / "a.csv").stat().st_size
    assert final["line"] == 3


async def test_jsonl_lines_are_objects_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    settled(tmp_path / "b.jsonl", b'{"order_id": "x", "n": 1}\n\n{"order_id": "y"}\n')
    context = FakeContext()
    await run(config(tmp_path), context)
    assert [r.value for r in context.records] == [{"order_id": "x", "n": 1}, {"order_id": "y"}]
    assert not any(r.text for r in context.records)
    assert [r.location for r in context.records] == ["b.jsonl line 1", "b.jsonl line 3"]


async def test_files_are_read_in_name_order_in_batches_with_a_position_each(
    tmp_path: Path,
) -> None:
    settled(tmp_path / "2.jsonl", b"".join(b'{"n": %d}\n' % n for n in range(5)))
    settled(tmp_path / "1.csv", b"n\n" + b"".join(b"%d\n" % n for n in range(3)))
    settled(tmp_path / "ignored.txt", b"nothing\n")
    context = FakeContext()
    await run(config(tmp_path, batch_lines=2), context)
    assert [(p, len(r)) for r, p, _ in context.sends] == [
        ("1.csv", 1),  # header and line 2
        ("1.csv", 2),
        ("2.jsonl", 2),
        ("2.jsonl", 2),
        ("2.jsonl", 1),
    ]
    offsets = [pos["offset"] for _, p, pos in context.sends if p == "2.jsonl" and pos]
    assert offsets == sorted(offsets)
    assert [pos["done"] for _, _, pos in context.sends if pos] == [False, True] + [False] * 2 + [
        True
    ]


async def test_a_restart_resumes_at_the_stored_offset_rereading_the_csv_header(
    tmp_path: Path,
) -> None:
    path = settled(tmp_path / "a.csv", b"id,v\n1,a\n2,b\n3,c\n")
    first = FakeContext(stop_after=1)
    await run(config(tmp_path, batch_lines=2, exit_when_done=False), first)
    assert [r.value["id"] for r in first.records] == ["1"]
    assert first.positions["a.csv"]["offset"] == len(b"id,v\n1,a\n")
    second = FakeContext(positions=first.positions)
    await run(config(tmp_path, batch_lines=2), second)
    assert [r.value for r in second.records] == [{"id": "2", "v": "b"}, {"id": "3", "v": "c"}]
    assert second.positions["a.csv"]["offset"] == path.stat().st_size


async def test_malformed_lines_are_dead_lettered_with_file_and_line(tmp_path: Path) -> None:
    settled(
        tmp_path / "a.csv",
        b'id,v\n1,ok\n2\n3,"open\n4,too,many\n5,\xff\xfe\n6,"quoted, fine"\n',
    )
    settled(tmp_path / "b.jsonl", b'{"id": 1}\n{"id": \n[1, 2]\n{"id": 4}\n')
    context = FakeContext()
    await run(config(tmp_path), context)
    assert [r.location for r in context.records] == [
        "a.csv line 2",
        "a.csv line 7",
        "b.jsonl line 1",
        "b.jsonl line 4",
    ]
    assert context.records[1].value == {"id": "6", "v": "quoted, fine"}
    locations = [r.location for r, _ in context.dead]
    assert locations == [f"a.csv line {n}" for n in (3, 4, 5, 6)] + [
        "b.jsonl line 2",
        "b.jsonl line 3",
    ]
    for record, error in context.dead:
        assert isinstance(error, ConversionError)
        assert error.location == record.location
        assert record.location in str(error)
        assert "raw" in record.value
    assert context.dead[0][0].value == {"raw": "2"}
    assert "not UTF-8" in str(context.dead[3][1])


async def test_a_growing_file_waits_for_its_last_line_until_it_settles(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2')  # fresh: the writer may still be busy
    context = FakeContext()
    source = FileSource(config(tmp_path, settle_s=30, exit_when_done=False))
    task = asyncio.create_task(source.run(context))
    try:
        await wait_for(lambda: bool(context.sends), timeout=5, interval=0.01, what="a send")
        assert [r.value for r in context.records] == [{"n": 1}]
        assert context.positions["a.jsonl"]["done"] is False
        with path.open("ab") as f:
            f.write(b'}\n{"n": 3}')
        settled(path, path.read_bytes())  # now it stops changing
        await wait_for(
            lambda: context.positions["a.jsonl"]["done"], timeout=5, interval=0.01, what="done"
        )
    finally:
        context.stopping.set()
        await asyncio.wait_for(task, timeout=5)
    assert [r.value for r in context.records] == [{"n": 1}, {"n": 2}, {"n": 3}]


async def test_a_done_file_is_never_read_again_but_a_replaced_one_is(tmp_path: Path) -> None:
    path = settled(tmp_path / "a.jsonl", b'{"n": 1}\n')
    first = FakeContext()
    await run(config(tmp_path), first)
    again = FakeContext(positions=first.positions)
    await run(config(tmp_path), again)
    assert again.sends == []
    settled(path, b'{"n": 2}\n{"n": 3}\n')  # a new file under the old name
    replaced = FakeContext(positions=first.positions)
    await run(config(tmp_path), replaced)
    assert [r.value for r in replaced.records] == [{"n": 2}, {"n": 3}]


async def test_move_puts_done_files_in_done_and_keeps_earlier_ones(tmp_path: Path) -> None:
    settled(tmp_path / "a.jsonl", b'{"n": 1}\n')
    context = FakeContext()
    await run(config(tmp_path, done_action="move"), context)
    assert not (tmp_path / "a.jsonl").exists()
    assert (tmp_path / "done" / "a.jsonl").read_bytes() == b'{"n": 1}\n'
    settled(tmp_path / "a.jsonl", b'{"n": 2}\n')
    await run(config(tmp_path, done_action="move"), context)
    assert (tmp_path / "done" / "a.1.jsonl").read_bytes() == b'{"n": 2}\n'
    assert [r.value for r in context.records] == [{"n": 1}, {"n": 2}]


async def test_a_crash_before_the_move_finishes_it_without_reading(tmp_path: Path) -> None:
    settled(tmp_path / "a.jsonl", b'{"n": 1}\n')
    first = FakeContext()
    await run(config(tmp_path), first)  # keep: done but still there, as after a crash
    second = FakeContext(positions=first.positions)
    await run(config(tmp_path, done_action="move"), second)
    assert second.sends == []
    assert (tmp_path / "done" / "a.jsonl").exists()


async def test_draining_stops_between_batches(tmp_path: Path) -> None:
    settled(tmp_path / "a.jsonl", b"".join(b'{"n": %d}\n' % n for n in range(50)))
    context = FakeContext(stop_after=2)
    await run(config(tmp_path, batch_lines=10, exit_when_done=False), context)
    assert len(context.sends) == 2
    assert context.positions["a.jsonl"]["line"] == 20


async def test_an_unusable_csv_header_dead_letters_every_line(tmp_path: Path) -> None:
    settled(tmp_path / "a.csv", b"id,,v\n1,2,3\n")
    context = FakeContext()
    await run(config(tmp_path), context)
    assert context.records == []
    assert [r.location for r, _ in context.dead] == ["a.csv line 2"]
    assert "header" in str(context.dead[0][1])
    assert context.positions["a.csv"]["done"] is True


async def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="does not exist"):
        await run(config(tmp_path / "nope"), FakeContext())
