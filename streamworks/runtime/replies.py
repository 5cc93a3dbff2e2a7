"""Turning a stage's outputs for a request into replies: pure, no broker involved.

A request is an input record with the ``streamworks.reply.to`` and correlation headers
(:class:`~streamworks.runtime.reply.Requester` sends them); the processor calls
:func:`route_replies` on each batch, so the replies are written with the batch's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from streamworks.core.messages import Headers, InMessage, OutRecord
from streamworks.runtime.dead_letters import DLQ_PREFIX, header

__all__ = [
    "CORRELATION_ID",
    "REPLY_COUNT",
    "REPLY_ERROR",
    "REPLY_OUTPUT",
    "REPLY_STATUS",
    "REPLY_TO",
    "Status",
    "route_replies",
]

REPLY_TO = "streamworks.reply.to"
CORRELATION_ID = "streamworks.reply.correlation-id"
REPLY_STATUS = "streamworks.reply.status"
REPLY_OUTPUT = "streamworks.reply.output-topic"
REPLY_ERROR = "streamworks.reply.error"
REPLY_COUNT = "streamworks.reply.count"
Status = Literal["ok", "filtered", "error"]
"""What a stage made of one request."""


def route_replies(messages: Sequence[InMessage], outputs: list[list[OutRecord]]) -> None:
    """Turn the outputs of request messages into replies (in place); others are untouched."""
    for message, records in zip(messages, outputs, strict=True):
        if not message.headers:
            continue
        reply_to = header(message.headers, REPLY_TO)
        if reply_to is None:  # the common case: one scan of the headers, then on
            continue
        correlation = header(message.headers, CORRELATION_ID)
        if correlation is None:
            continue
        base: Headers = ((CORRELATION_ID, correlation.encode()),)
        letters = [r for r in records if header(r.headers, DLQ_PREFIX + "stage") is not None]
        produced = [r for r in records if r not in letters]
        count = (REPLY_COUNT, str(len(produced)).encode())
        replies = [
            OutRecord(
                reply_to,
                r.key,
                r.value,
                (*base, (REPLY_STATUS, b"ok"), (REPLY_OUTPUT, r.topic.encode()), count),
            )
            for r in produced
        ]
        if letters:
            error = f"{header(letters[0].headers, DLQ_PREFIX + 'error.class')}: " + (
                header(letters[0].headers, DLQ_PREFIX + "error.message") or ""
            )
            replies = [
                OutRecord(
                    reply_to,
                    message.key,
                    None,
                    (*base, (REPLY_STATUS, b"error"), (REPLY_ERROR, error.encode())),
                )
            ]
        elif not replies:
            replies = [OutRecord(reply_to, message.key, None, (*base, (REPLY_STATUS, b"filtered")))]
        records[:] = letters + replies
