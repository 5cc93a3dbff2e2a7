"""Changelog restores on the real broker: aborted transactions, markers, deleted segments."""

from __future__ import annotations

from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.runtime.topics import ensure_topic
from streamworks.state.changelog import ChangelogReader
from streamworks.state.store import Store
from streamworks.testing import KafkaEndpoint, unique_name


async def _write(
    settings: Settings, topic: str, records: list[tuple[bytes, bytes]], *, commit: bool
) -> None:
    producer = clients.producer(settings, transactional_id=unique_name("changelog-writer"))
    await producer.start()
    try:
        await producer.begin_transaction()
        for key, value in records:
            await producer.send(topic, value, key=key, partition=0)
        if commit:
            await producer.commit_transaction()
        else:
            await producer.abort_transaction()
    finally:
        await producer.stop()


async def test_restore_skips_aborted_transactions_and_rebuilds_stale_state(
    kafka: KafkaEndpoint, tmp_path: Path
) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers)
    topic = unique_name("changelog")
    await ensure_topic(settings, topic, partitions=1)  # delete policy: segments can go
    await _write(settings, topic, [(b"a", b"1"), (b"b", b"1")], commit=True)
    await _write(settings, topic, [(b"a", b"999"), (b"zombie", b"1")], commit=False)
    await _write(settings, topic, [(b"b", b"2")], commit=True)

    reader = ChangelogReader(settings, topic, timeout_s=20)
    await reader.start()
    try:
        store = Store(tmp_path / "store")
        restored = await reader.restore(0, store)
        # committed values only; the markers (one per transaction) did not stall the replay
        assert {k: v for k, v in store.items()} == {"a": 1, "b": 2}
        assert restored.records == 3
        assert store.checkpoint == restored.end == 8  # 5 records and 3 transaction markers

        # the log's first segments are deleted: a checkpoint below the start is stale
        stale = Store(tmp_path / "stale")
        stale.apply([(b"a", b"0"), (b"gone", b"1")], 1)
        admin = clients.admin_client(settings)
        await admin.start()
        try:
            await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(3)})
        finally:
            await admin.close()
        rebuilt = await reader.restore(0, stale)
        assert rebuilt.wiped is not None and "below the changelog's start" in rebuilt.wiped
        assert {k: v for k, v in stale.items()} == {"b": 2}  # "a" and "gone" were deleted
    finally:
        await reader.stop()
