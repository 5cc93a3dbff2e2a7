"""Global tables and stream-table joins through the in-memory driver: each missing-key policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamworks.pipeline.graph import Pipeline, TopicSpec
from streamworks.pipeline.stage import RetryPolicy
from streamworks.pipeline.tables import GlobalTable, OnMissing
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.testing.driver import TestDriver
from tests.kit.records import Label, Level, Reading

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def _reading(sensor: str) -> Reading:
    return Reading(sensor=sensor, value=1.0, at=NOW)


def _sensor(sensor: str, where: str) -> Label:
    """The table's row of a sensor: its level and where it is."""
    return Label(sensor=sensor, level=Level.WARN, note=where)


def _driver(policy: OnMissing) -> tuple[TestDriver, GlobalTable[Label]]:
    table = GlobalTable("sensors", Label, on_missing=policy)
    pipeline = Pipeline(
        "join",
        topics=[
            TopicSpec("readings", Reading, 1, external=True),
            TopicSpec("sensors", Label, 1, external=True),
        ],
    )

    @pipeline.stage(
        "locate",
        inputs="readings",
        input_type=Reading,
        outputs={"located": Label},
        tables=(table,),
        retry=RetryPolicy(attempts=3, initial_backoff_s=0.001),
    )
    async def locate(reading: Reading) -> Label:
        known = table.join(reading.sensor)
        if known is None:  # the DEFAULT policy: no row, no facts
            return Label(reading.sensor)
        return Label(reading.sensor, known.level, known.note)

    return TestDriver(pipeline), table


async def test_the_join_uses_the_latest_record_per_key_and_forgets_deleted_keys() -> None:
    driver, table = _driver(OnMissing.DEFAULT)
    driver.send("sensors", _sensor("s1", "hall"), key="s1")
    driver.send("sensors", _sensor("s1", "roof"), key="s1")  # a later update wins
    driver.send("sensors", _sensor("s2", "cellar"), key="s2")
    driver.send("sensors", None, key="s2")  # a tombstone deletes
    driver.send("readings", _reading("s1"))
    driver.send("readings", _reading("s2"))
    await driver.run()
    located = {label.sensor: label for label in driver.read("located")}
    assert located["s1"] == Label("s1", Level.WARN, "roof")
    assert located["s2"] == Label("s2", Level.OK, None)
    assert set(table.rows) == {"s1"}


@pytest.mark.parametrize(
    ("policy", "attempts", "retries"), [(OnMissing.DEAD_LETTER, "1", 0), (OnMissing.RETRY, "3", 2)]
)
async def test_a_missing_key_is_retried_or_dead_lettered_as_declared(
    policy: OnMissing, attempts: str, retries: int
) -> None:
    driver, _ = _driver(policy)
    driver.send("readings", _reading("nobody"))
    await driver.run()
    assert driver.read("located") == []
    [letter] = driver.dead_letters("locate")
    assert "MissingKeyError" in (header(letter.headers, DLQ_PREFIX + "error.class") or "")
    assert "no record for key 'nobody'" in (
        header(letter.headers, DLQ_PREFIX + "error.message") or ""
    )
    assert header(letter.headers, DLQ_PREFIX + "attempts") == attempts
    assert driver.counts["locate"].retries == retries


async def test_a_key_that_arrives_while_retrying_is_joined() -> None:
    driver, table = _driver(OnMissing.RETRY)
    calls = 0
    original = table.join

    def join_after_first_miss(key: str) -> Label | None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the sensor's row lands while the reading is being retried
            table.rows[key] = _sensor(key, "basement")
        return original(key)

    table.join = join_after_first_miss  # type: ignore[method-assign]
    driver.send("readings", _reading("late-sensor"))
    await driver.run()
    [located] = driver.read("located")
    assert located.note == "basement"
