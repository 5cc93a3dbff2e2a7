"""OffsetFetch v7 on the wire, byte by byte, as Kafka's OffsetFetchRequest.json lays it out."""

from __future__ import annotations

import struct

from aiokafka import TopicPartition

from streamworks.kafka.offsets import OffsetFetchRequest, OffsetFetchResponse_v7, offsets_of


def _compact(text: str) -> bytes:
    return bytes([len(text) + 1]) + text.encode()  # the length + 1, as an unsigned varint


def test_the_request_asks_for_stable_offsets_in_the_flexible_layout() -> None:
    request = OffsetFetchRequest("g", {TopicPartition("t", 1), TopicPartition("t", 0)})
    built = request.prepare({9: (1, 9)})

    assert built.API_VERSION == 7
    header = built.build_request_header(correlation_id=5, client_id="c")
    assert header.encode() == struct.pack(">hhih", 9, 7, 5, 1) + b"c" + b"\x00"
    assert built.encode() == (
        _compact("g")
        + b"\x02"  # one topic
        + _compact("t")
        + b"\x03"  # two partitions, in order
        + struct.pack(">ii", 0, 1)
        + b"\x00"  # the topic's tagged fields
        + b"\x01"  # require_stable
        + b"\x00"  # the request's tagged fields
    )


def _response(*partitions: tuple[int, int, int], error_code: int = 0) -> bytes:
    body = b"".join(
        struct.pack(">iqi", index, offset, -1) + b"\x01" + struct.pack(">h", error) + b"\x00"
        for index, offset, error in partitions
    )
    topics = b"\x02" + _compact("t") + bytes([len(partitions) + 1]) + body + b"\x00"
    return struct.pack(">i", 0) + topics + struct.pack(">h", error_code) + b"\x00"


def test_offsets_are_decoded_and_never_committed_is_none() -> None:
    response = OffsetFetchResponse_v7.decode(_response((0, 11, 0), (1, -1, 0)))

    assert offsets_of(response) == (0, {TopicPartition("t", 0): 11, TopicPartition("t", 1): None})


def test_a_pending_transaction_is_reported_not_read_as_an_offset() -> None:
    response = OffsetFetchResponse_v7.decode(_response((0, -1, 88)))

    assert offsets_of(response) == (88, {})


def test_a_group_level_error_is_reported() -> None:
    response = OffsetFetchResponse_v7.decode(_response(error_code=16))

    assert offsets_of(response) == (16, {})
