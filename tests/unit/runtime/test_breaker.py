"""The circuit breaker, on the in-memory driver: bugs stop a stage, bad data does not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamworks import ConfigurationError, Pipeline, TopicSpec
from streamworks.runtime.breaker import StageStopped
from streamworks.runtime.dead_letters import LOG_BURST
from streamworks.testing.driver import TestDriver
from tests.kit.builders import feed
from tests.kit.records import Label, Reading


def _driver(function: Callable[[Reading], Any], **options: Any) -> TestDriver:
    pipeline = Pipeline("breaker", topics=[TopicSpec("breaker.readings", Reading, external=True)])
    pipeline.stage(
        "clean",
        inputs="breaker.readings",
        input_type=Reading,
        outputs={"breaker.labels": Label},
        **options,
    )(function)
    driver = TestDriver(pipeline)
    for reading in feed(300):
        driver.send("breaker.readings", reading, key=reading.sensor)
    return driver


async def test_the_same_error_on_every_record_stops_the_stage() -> None:
    def broken(reading: Reading) -> Label:
        raise KeyError("amount")

    driver = _driver(broken, stop_after=50)
    with pytest.raises(StageStopped, match=r"50 records in a row failed.*KeyError: 'amount'"):
        await driver.run()


async def test_a_stage_logs_its_first_dead_letters_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(reading: Reading) -> Label:
        raise KeyError("amount")

    driver = _driver(broken, stop_after=50)
    with pytest.raises(StageStopped):
        await driver.run()
    lines = [r.getMessage() for r in caplog.records if "a dead letter for" in r.getMessage()]
    assert len(lines) == LOG_BURST  # not one line per record before the stage stops


async def test_a_few_bad_records_are_dead_lettered() -> None:
    def picky(reading: Reading) -> Label:
        if reading.sensor.endswith("7"):  # every tenth record
            raise ValueError("not this one")
        return Label(reading.sensor)

    driver = _driver(picky, stop_after=2)
    await driver.run()
    assert len(driver.read("breaker.labels")) == 270
    assert len(driver.dead_letters("clean")) == 30


async def test_alternating_errors_are_not_one_run() -> None:
    def flaky(reading: Reading) -> Label:
        number = int(reading.sensor[1:])
        raise (KeyError if number % 2 else ValueError)("bad")

    driver = _driver(flaky, stop_after=2)
    await driver.run()  # no two failures in a row share a class
    assert len(driver.dead_letters("clean")) == 300


async def test_on_error_stop_stops_at_the_first_failure() -> None:
    def strict(reading: Reading) -> Label:
        if reading.sensor == "s00042":
            raise ValueError("unexpected sensor")
        return Label(reading.sensor)

    driver = _driver(strict, on_error="stop")
    with pytest.raises(StageStopped, match=r'on_error="stop".*offset 42'):
        await driver.run()


async def test_returning_a_dict_stops_the_stage_naming_what_to_return() -> None:
    def wrong(reading: Reading) -> Any:
        return {"sensor": reading.sensor}

    driver = _driver(wrong)
    with pytest.raises(StageStopped, match=r"returned a dict; return a record \(Label\)"):
        await driver.run()


def test_a_breaker_below_one_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="stop_after must be at least 1"):
        _driver(lambda reading: None, stop_after=0)
