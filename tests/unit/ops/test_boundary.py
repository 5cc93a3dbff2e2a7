"""What the command line shows of aiokafka's logging while a broker is down."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from streamworks.ops.boundary import quiet_bootstrap_failures


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def kept() -> Iterator[_Kept]:
    root = logging.getLogger()
    handler = _Kept()
    root.addHandler(handler)
    before = {h: list(h.filters) for h in root.handlers}
    quiet_bootstrap_failures()
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for other, filters in before.items():  # the other tests' handlers as they were
            other.filters[:] = filters


def test_a_node_out_of_reach_is_said_once_not_ten_times_a_second(kept: _Kept) -> None:
    client = logging.getLogger("aiokafka.client")
    for _ in range(100):
        client.error("Unable connect to node with id %s: %s", 1, "Connection refused")
        client.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9092, "refused")
    client.error("something else went wrong")
    logging.getLogger("streamworks.registry").error("Unable connect to node with id %s: %s", 1, "x")
    assert kept.lines == [
        "Unable connect to node with id 1: Connection refused",
        "something else went wrong",
        "Unable connect to node with id 1: x",  # not aiokafka's: never held back
    ]
