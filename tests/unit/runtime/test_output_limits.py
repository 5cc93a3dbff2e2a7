"""An output its topic would refuse dead-letters its input; the stage goes on.

A record that only becomes too large on the way out (a reason that quotes a huge field,
say) used to fail the produce of its whole batch, then the restarted worker, forever.
"""

from __future__ import annotations

from streamworks import Pipeline, TopicSpec
from streamworks.runtime.dead_letters import DLQ_RECORD_LIMIT, header
from streamworks.testing.driver import TestDriver
from tests.kit.builders import feed
from tests.kit.builders import reading as reading_of
from tests.kit.pipelines import count_and_sum, total
from tests.kit.records import Label, Reading, Total


def _amplifying(reading: Reading) -> Label:
    """Quotes a 2 KB note a thousand times for sensor s00007: an output of about 2 MB."""
    if reading.sensor == "s00007":
        return Label(reading.sensor, note="x" * 2_000 * 1_000)
    return Label(reading.sensor, note="fine")


def _pipeline() -> Pipeline:
    pipeline = Pipeline("limits", topics=[TopicSpec("limits.readings", Reading, external=True)])
    pipeline.stage(
        "label", inputs="limits.readings", input_type=Reading, outputs={"limits.labels": Label}
    )(_amplifying)
    return pipeline


async def test_an_output_over_the_broker_default_dead_letters_its_input_only() -> None:
    driver = TestDriver(_pipeline())
    for reading in feed(20):
        driver.send("limits.readings", reading, key=reading.sensor)
    await driver.run()

    assert sorted(label.sensor for label in driver.read("limits.labels")) == sorted(
        r.sensor for r in feed(20) if r.sensor != "s00007"
    )
    [letter] = driver.dead_letters("label")
    assert header(letter.headers, "streamworks.dlq.error.class") == (
        "streamworks.runtime.processor.OutputTooLargeError"
    )
    reason = header(letter.headers, "streamworks.dlq.error.message") or ""
    assert "for limits.labels, which takes at most 1,048,000" in reason
    assert len(letter.value or b"") < DLQ_RECORD_LIMIT  # the input itself, as it came
    counts = driver.counts["label"]
    assert (counts.records_in, counts.dead_lettered, counts.records_written) == (20, 1, 19)


async def test_an_aggregations_result_over_the_limit_dead_letters_its_input() -> None:
    """A running count whose key (a 1.1 MB sensor id) makes its result too large: the
    reading is dead-lettered, the other keys' counts are written, the stage goes on."""
    pipeline = Pipeline("limits", topics=[TopicSpec("limits.readings", Reading, external=True)])
    pipeline.aggregate(
        "count",
        inputs="limits.readings",
        input_type=Reading,
        key=lambda r: r.sensor,
        aggregator=count_and_sum(),
        output="limits.counts",
        output_type=Total,
        emit=total,
        mode="update",
        repartition=False,  # else the repartition stage refuses it first
    )
    huge = reading_of("s" * 1_100_000, 0, 1.0)
    driver = TestDriver(pipeline)
    for one in [*feed(3), huge, *feed(3, start=3)]:
        driver.send("limits.readings", one, key=one.sensor)
    await driver.run()

    assert sorted(t.key for t in driver.read("limits.counts")) == [r.sensor for r in feed(6)]
    [letter] = driver.dead_letters("count")
    assert header(letter.headers, "streamworks.dlq.error.class") == (
        "streamworks.runtime.processor.OutputTooLargeError"
    )
    counts = driver.counts["count"]
    assert (counts.records_in, counts.dead_lettered, counts.records_written) == (7, 1, 6)
    assert counts.balanced()
