"""An output its topic would refuse dead-letters its input; the stage goes on.

A record that only becomes too large on the way out (a reason that quotes a huge field,
say) used to fail the produce of its whole batch, then the restarted worker, forever.
"""

from __future__ import annotations

from streamworks import Pipeline, TopicSpec
from streamworks.runtime.dead_letters import DLQ_RECORD_LIMIT, header
from streamworks.testing.driver import TestDriver
from tests.kit.builders import feed
from tests.kit.records import Label, Reading


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
