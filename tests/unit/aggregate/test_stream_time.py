"""Stream time through the in-memory driver: late only when the producers wrote it late.

A repartitioned aggregation's task takes records from every partition of its input (its
origins). Stream time is the slowest origin's progress, so a partition that is behind in
wall time (its producer paused, its upstream worker slow to start) makes nothing late.
"""

from __future__ import annotations

from collections import Counter

from streamworks.pipeline import Hopping, Tumbling
from streamworks.testing.driver import TestDriver
from tests.kit.builders import reading
from tests.unit.aggregate.test_aggregations import IN, counting, emitted

PARTITIONS = 4
SENSORS = ("a", "b", "c", "d", "e")


def _send_partition(driver: TestDriver, partition: int, seconds: range) -> list[tuple[str, int]]:
    """One reading per second of ``seconds`` on ``partition``, in event-time order."""
    sent = []
    for second in seconds:
        sensor = SENSORS[(second + partition) % len(SENSORS)]
        driver.send(IN, reading(sensor, second * 1_000), key=sensor, partition=partition)
        sent.append((sensor, second * 1_000))
    return sent


def _truth(sent: list[tuple[str, int]], until_ms: int) -> Counter[tuple[str, int, int, int]]:
    """The 10-second windows that end by ``until_ms``, counted from everything sent."""
    per_window = Counter((sensor, ms // 10_000 * 10_000) for sensor, ms in sent)
    return Counter(
        (sensor, start, start + 10_000, count)
        for (sensor, start), count in per_window.items()
        if start + 10_000 <= until_ms
    )


async def test_a_partition_delayed_in_wall_time_makes_no_record_late() -> None:
    now = [1_000.0]
    driver = TestDriver(counting(Tumbling(10), partitions=PARTITIONS), clock=lambda: now[0])
    sent = []
    for partition in range(PARTITIONS - 1):
        sent += _send_partition(driver, partition, range(60))
    await driver.run()
    assert emitted(driver) == []  # partition 3 has not been heard from: stream time waits

    now[0] += 5  # its producer was paused for five seconds, then sends the same minute
    sent += _send_partition(driver, PARTITIONS - 1, range(60))
    await driver.run()

    counts = driver.counts["count"]
    assert counts.late == 0
    assert driver.messages("agg.count.late") == []
    # every window up to the slowest partition's last record minus its own length is out
    assert Counter(emitted(driver)) == _truth(sent, until_ms=59_000)
    assert counts.records_written == len(emitted(driver))


async def test_the_same_order_of_arrival_on_one_partition_is_late_past_the_grace() -> None:
    """The other side: lateness that the producer really wrote stays late."""
    driver = TestDriver(counting(Tumbling(10), partitions=PARTITIONS))
    for partition in range(PARTITIONS):
        _send_partition(driver, partition, range(30, 40))
    await driver.run()
    driver.send(IN, reading("a", 5_000), key="a", partition=0)  # 25 s behind its partition
    await driver.run()
    assert driver.counts["count"].late == 1


async def test_a_partition_silent_longer_than_the_wait_no_longer_holds_stream_time() -> None:
    now = [1_000.0]
    pipeline = counting(Tumbling(10), partitions=PARTITIONS)
    driver = TestDriver(pipeline, clock=lambda: now[0])
    for partition in range(PARTITIONS - 1):
        _send_partition(driver, partition, range(30))
    await driver.run()
    assert emitted(driver) == []
    now[0] += 11  # past wait_for_origins (10 s by default) since the task's first record
    for partition in range(PARTITIONS - 1):
        _send_partition(driver, partition, range(30, 31))
    await driver.run()
    assert {end for _, _, end, _ in emitted(driver)} == {10_000, 20_000, 30_000}


async def test_when_input_stops_windows_up_to_the_last_event_close_within_close_when_idle() -> None:
    now = [1_000.0]
    driver = TestDriver(
        counting(Tumbling(10, grace=5), partitions=PARTITIONS, close_when_idle=2),
        clock=lambda: now[0],
    )
    for partition in range(PARTITIONS):
        # partition 0 runs 20 s ahead of the others in event time, then everything stops
        _send_partition(driver, partition, range(20, 46) if partition == 0 else range(20, 26))
    await driver.run()
    assert emitted(driver) == []  # stream time 25 s: [20, 30) closes at 30 s plus 5 s grace

    now[0] += 1
    await driver.tick()
    assert emitted(driver) == []  # quiet for less than 2 s

    now[0] += 1  # quiet for 2 s: stream time takes the largest event time seen, 45 s
    await driver.tick()
    assert {end for _, _, end, _ in emitted(driver)} == {30_000, 40_000}

    now[0] += 7  # then follows the wall clock: 45 s + 9 s is not yet [40, 50) plus grace
    await driver.tick()
    assert {end for _, _, end, _ in emitted(driver)} == {30_000, 40_000}
    now[0] += 1  # 45 s + 10 s is
    await driver.tick()
    assert {end for _, _, end, _ in emitted(driver)} == {30_000, 40_000, 50_000}
    assert driver.counts["count"].late == 0


async def test_a_hopping_record_behind_some_windows_counts_in_those_still_open() -> None:
    driver = TestDriver(counting(Hopping(10, 5)))
    driver.send(IN, reading("a", 12_000), key="a")
    driver.send(IN, reading("a", 14_000), key="a")  # stream time 14 s: [0, 10) is closed
    driver.send(IN, reading("a", 9_000), key="a")  # in [0, 10), closed, and [5, 15), open
    await driver.run()
    driver.send(IN, reading("a", 40_000), key="a")
    await driver.run()
    windows = {(start, end): count for _, start, end, count in emitted(driver)}
    assert (0, 10_000) not in windows
    assert windows[(5_000, 15_000)] == 3  # 12 s, 14 s and the partly late 9 s
    assert driver.counts["count"].late == 0  # it still counted somewhere: not late
