"""On the real broker: an output larger than its topic takes dead-letters its input, and
the stage goes on (no produce failure, no worker restart, every other record out)."""

from __future__ import annotations

import pytest

from streamworks import Pipeline, TopicSpec
from streamworks.runtime.dead_letters import header
from streamworks.testing import RunPipeline, unique_name, wait_for
from tests.kit.builders import feed
from tests.kit.records import Label, Reading

pytestmark = pytest.mark.integration

LIMIT = 20_000
"""The output topic's max.message.bytes."""


@pytest.mark.timeout(120)
async def test_an_output_over_its_topic_s_limit_is_dead_lettered_not_fatal(
    run_pipeline: RunPipeline,
) -> None:
    name = unique_name("limits")

    def label(reading: Reading) -> Label:
        note = "x" * 2 * LIMIT if reading.sensor == "s00007" else "fine"
        return Label(reading.sensor, note=note)

    pipeline = Pipeline(
        name,
        topics=[
            TopicSpec(f"{name}.readings", Reading, 2, external=True),
            TopicSpec(f"{name}.labels", Label, 2, config={"max.message.bytes": str(LIMIT)}),
        ],
    )
    pipeline.stage(
        "label", inputs=f"{name}.readings", input_type=Reading, outputs={f"{name}.labels": Label}
    )(label)
    readings = feed(50)

    async with run_pipeline(pipeline) as running:
        await running.send(f"{name}.readings", readings, key=lambda r: r.sensor)
        labels = await running.read(f"{name}.labels", count=49)
        [letter] = await running.dead_letters("label", count=1)
        await wait_for(  # the worker is still there, and counts it once its batch commits
            lambda: running.counts("label").dead_lettered == 1, what="the dead letter counted"
        )

    assert sorted(r.sensor for r in labels) == sorted(
        r.sensor for r in readings if r.sensor != "s00007"
    )
    assert header(tuple(letter.headers), "streamworks.dlq.error.class") == (
        "streamworks.runtime.processor.OutputTooLargeError"
    )
    reason = header(tuple(letter.headers), "streamworks.dlq.error.message") or ""
    assert f"which takes at most {LIMIT - 588:,}" in reason
