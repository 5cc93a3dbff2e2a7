"""Request-reply routing through the test driver: replies instead of pipeline outputs."""

from __future__ import annotations

from streamworks.runtime.dead_letters import header
from streamworks.runtime.replies import CORRELATION_ID, REPLY_STATUS, REPLY_TO
from streamworks.schemas.typed import RecordCodec
from streamworks.testing.driver import TestDriver
from tests.kit.builders import reading
from tests.kit.pipelines import sensor_pipeline
from tests.kit.records import Alarm, Label, Level


def _request_headers(correlation: str) -> tuple[tuple[str, bytes], ...]:
    return ((REPLY_TO, b"replies"), (CORRELATION_ID, correlation.encode()))


async def test_a_request_gets_the_stage_output_as_a_reply_and_feeds_nothing() -> None:
    driver = TestDriver(sensor_pipeline("kit"))
    driver.send("kit.scaled", reading("s1", 0, 20.0), headers=_request_headers("c-1"))
    driver.send("kit.scaled", reading("s2", 0, 120.0), headers=_request_headers("c-2"))
    await driver.run()

    replies = driver.messages("replies")
    assert [header(r.headers, CORRELATION_ID) for r in replies] == ["c-1", "c-2"]
    assert {header(r.headers, REPLY_STATUS) for r in replies} == {"ok"}
    assert header(replies[0].headers, "streamworks.reply.output-topic") == "kit.labels"
    assert header(replies[1].headers, "streamworks.reply.output-topic") == "kit.alarms"
    assert RecordCodec(Label, driver.codec).decode(replies[0].value) == Label("s1", Level.OK)
    alarm = RecordCodec(Alarm, driver.codec).decode(replies[1].value)
    assert (alarm.reading.value, alarm.level) == (120.0, Level.ALARM)
    assert driver.messages("kit.labels") == []  # a request does not feed the pipeline
    assert driver.messages("kit.alarms") == []
    assert driver.messages("kit.totals") == []


async def test_a_request_that_fails_gets_an_error_reply_and_a_dead_letter() -> None:
    driver = TestDriver(sensor_pipeline("kit"))
    driver.send("kit.scaled", b"\x00\x00\x00\x00\x01broken", headers=_request_headers("x"))
    await driver.run()
    [reply] = driver.messages("replies")
    assert header(reply.headers, REPLY_STATUS) == "error"
    assert "ValueDecodeError" in (header(reply.headers, "streamworks.reply.error") or "")
    assert len(driver.dead_letters("classify")) == 1
