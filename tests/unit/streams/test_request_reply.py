"""Request-reply routing through the test driver: replies instead of pipeline outputs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from streams.orders import OrderGenerator, clean_order, format_order, orders_pipeline
from streamworks.runtime.dead_letters import header
from streamworks.runtime.replies import CORRELATION_ID, REPLY_STATUS, REPLY_TO
from streamworks.testing.driver import TestDriver

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _request_headers(correlation: str) -> tuple[tuple[str, bytes], ...]:
    return ((REPLY_TO, b"replies"), (CORRELATION_ID, correlation.encode()))


async def test_a_request_gets_the_stage_output_as_a_reply_and_feeds_nothing() -> None:
    generator = OrderGenerator()
    driver = TestDriver(orders_pipeline(clock=lambda: NOW))
    order = format_order(clean_order(next(generator.orders(1))))
    driver.send("orders.formatted", order, headers=_request_headers("c-1"))
    bad = replace(order, quantity=0)
    driver.send("orders.formatted", bad, headers=_request_headers("c-2"))
    await driver.run()

    replies = driver.messages("replies")
    assert [header(r.headers, CORRELATION_ID) for r in replies] == ["c-1", "c-2"]
    assert {header(r.headers, REPLY_STATUS) for r in replies} == {"ok"}
    assert header(replies[0].headers, "streamworks.reply.output-topic") == "orders.valid"
    assert header(replies[1].headers, "streamworks.reply.output-topic") == "orders.invalid"
    assert driver.messages("orders.valid") == []  # a request does not feed the pipeline
    assert driver.messages("orders.enriched") == []


async def test_a_request_that_fails_gets_an_error_reply_and_a_dead_letter() -> None:
    driver = TestDriver(orders_pipeline(clock=lambda: NOW))
    driver.send("orders.formatted", b"\x00\x00\x00\x00\x01broken", headers=_request_headers("x"))
    await driver.run()
    [reply] = driver.messages("replies")
    assert header(reply.headers, REPLY_STATUS) == "error"
    assert "ValueDecodeError" in (header(reply.headers, "streamworks.reply.error") or "")
    assert len(driver.dead_letters("validate")) == 1
