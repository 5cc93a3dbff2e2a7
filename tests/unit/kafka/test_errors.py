"""aiokafka's "Unable to bootstrap" becomes one typed error naming the address it tried."""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from streamworks.kafka.errors import KafkaUnavailableError, unreachable, unreachable_message

BOOTSTRAP_FAILED = KafkaConnectionError(
    "Unable to bootstrap from [('127.0.0.1', 19092, <AddressFamily.AF_INET: 2>), "
    "('10.0.0.7', 9092, <AddressFamily.AF_INET: 2>)]"
)


def test_the_addresses_aiokafka_tried_are_named() -> None:
    down = unreachable(BOOTSTRAP_FAILED, "ignored:1")
    assert isinstance(down, KafkaUnavailableError)
    assert down.retriable
    assert down.bootstrap == "127.0.0.1:19092,10.0.0.7:9092"
    assert str(down).startswith("no Kafka broker answers at 127.0.0.1:19092,10.0.0.7:9092; ")
    assert "streamworks kafka up" in str(down)


def test_an_error_raised_from_it_counts_and_without_addresses_the_setting_is_named() -> None:
    wrapped = RuntimeError("the worker could not start")
    wrapped.__cause__ = KafkaConnectionError("Connection at 127.0.0.1:9092 closed")
    message = unreachable_message(wrapped, "broker:9092")
    assert message == str(KafkaUnavailableError("broker:9092"))


def test_other_errors_are_left_alone() -> None:
    assert unreachable(KafkaTimeoutError(), "broker:9092") is None
    assert unreachable_message(ValueError("bad"), "broker:9092") is None
