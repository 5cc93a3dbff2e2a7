"""The lineage header: small on the wire, read back exactly, names resolved by the pipeline."""

from __future__ import annotations

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from streamworks.core.lineage import LINEAGE_HEADER, LineageWriter, lineage_of, origin_id, origins


def _record_bytes(headers: list[tuple[str, bytes]]) -> int:
    """Bytes one record with ``headers`` takes in a Kafka record batch."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    builder.append(0, timestamp=0, key=b"k", value=b"v", headers=headers)
    return int(builder.size())


def test_the_header_costs_at_most_24_bytes_on_the_wire_even_at_the_largest_offset() -> None:
    header = LineageWriter("a-stage-with-a-long-name").header(
        "a.topic.with.a.rather.long.name", 2**31 - 1, 2**63 - 1
    )
    assert _record_bytes([header]) - _record_bytes([]) <= 24


def test_an_output_says_which_stage_read_which_record_of_which_topic() -> None:
    writer = LineageWriter("clean")
    name, value = writer.header("orders.raw", 3, 1_234_567)
    assert name == LINEAGE_HEADER
    lineage = lineage_of([("other", b"x"), (name, value)])
    assert lineage is not None
    assert (lineage.partition, lineage.offset) == (3, 1_234_567)
    assert lineage.origin == origin_id("clean", "orders.raw")
    named = origins([("clean", ["orders.raw", "orders.retry"]), ("enrich", ["orders.valid"])])
    assert named[lineage.origin] == ("clean", "orders.raw")


def test_partitions_of_one_topic_share_the_origin_but_not_the_header() -> None:
    writer = LineageWriter("clean")
    first = lineage_of([writer.header("t", 0, 5)])
    second = lineage_of([writer.header("t", 1, 5)])
    assert first is not None and second is not None
    assert first.origin == second.origin
    assert first.partition != second.partition


def test_headers_without_lineage_or_in_another_format_give_none() -> None:
    assert lineage_of(None) is None
    assert lineage_of([]) is None
    assert lineage_of([(LINEAGE_HEADER, b"\x02" + bytes(16))]) is None  # a future format
    assert lineage_of([(LINEAGE_HEADER, b"short")]) is None
