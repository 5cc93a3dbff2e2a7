"""The platform's clients must be safe by default, unlike aiokafka's own defaults."""

from __future__ import annotations

from streamworks.core.settings import Settings
from streamworks.kafka import clients


def test_producer_config_is_acks_all_and_idempotent() -> None:
    config = clients.producer_config(Settings())
    assert config["acks"] == "all"
    assert config["enable_idempotence"] is True


def test_consumer_config_never_auto_commits() -> None:
    config = clients.consumer_config(Settings())
    assert config["enable_auto_commit"] is False


def test_exactly_once_consumers_read_committed_only() -> None:
    assert clients.consumer_config(Settings(guarantee="exactly-once"))["isolation_level"] == (
        "read_committed"
    )
    assert clients.consumer_config(Settings())["isolation_level"] == "read_uncommitted"


async def test_constructed_clients_carry_the_safe_settings() -> None:
    # aiokafka keeps these settings in private attributes; reading them is the only way to
    # check that the objects we build (not just our dicts) are configured safely.
    producer = clients.producer()
    consumer = clients.consumer("any-topic")
    try:
        assert producer._sender._acks == -1
        assert producer._txn_manager is not None  # idempotence on
        assert consumer._enable_auto_commit is False
    finally:
        # Never started, but stopping marks them closed (otherwise they warn when collected).
        await producer.stop()
        await consumer.stop()


def test_settings_read_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STREAMWORKS_BOOTSTRAP_SERVERS", "127.0.0.1:19999")
    monkeypatch.setenv("STREAMWORKS_GUARANTEE", "exactly-once")
    settings = Settings()
    assert settings.bootstrap_servers == "127.0.0.1:19999"
    assert settings.guarantee == "exactly-once"


def test_the_key_partitioner_matches_kafkas_default() -> None:
    from aiokafka.partitioner import DefaultPartitioner  # noqa: PLC0415

    partitions = list(range(6))
    for n in range(500):
        key = f"customer-{n}".encode()
        expected = DefaultPartitioner()(key, partitions, partitions)
        assert clients.key_partitioner(key, partitions, partitions) == expected
    assert clients.key_partitioner(None, partitions, partitions) in partitions
