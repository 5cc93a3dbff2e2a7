"""The webhook sink: each batch POSTed as JSON arrays of at most ``max_batch`` records.

A request's body is a JSON array of records shaped as the JSONL sink writes them (topic,
partition, offset, key, timestamp, value; see :mod:`streamworks.connectors.base.documents`).
Answers:

- 2xx: delivered;
- 408, 429 and 5xx, a refused connection, a timeout: :class:`TransientError` (the runtime
  retries with backoff; a ``Retry-After`` header, seconds or a date, sets the least wait);
- any other 3xx or 4xx: :class:`RejectedError` naming that request's records, which go
  to the dead-letter topic; the other requests of the batch are still sent.

Each request carries an ``Idempotency-Key`` header derived from the topic, partition and
first..last offsets of its records: a retried request (after a timeout whose answer was
lost, say) has the same key, so a receiver can drop the repeat. Records already delivered
are not sent again when the runtime retries the rest of a batch. Because a crash between
a delivery and the offset commit redelivers the batch, delivery is at-least-once; every
record carries its topic, partition and offset for receivers that deduplicate by them.
Each POST waits for its answer, so :meth:`flush` has nothing to do.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime

import aiohttp

from streamworks.connectors.base.documents import record_document, to_json
from streamworks.connectors.base.errors import RejectedError, TransientError
from streamworks.connectors.base.records import SinkRecord
from streamworks.connectors.base.sink import Sink, SinkContext
from streamworks.connectors.webhook.config import WebhookSinkConfig

__all__ = ["WebhookSink", "idempotency_key"]

logger = logging.getLogger(__name__)

_RETRIED = frozenset({408, 429})
_SHOWN = 200

Delivered = tuple[str, int, int]
"""(topic, partition, offset) of a record the endpoint accepted."""


def idempotency_key(records: Sequence[SinkRecord]) -> str:
    """The same records (by topic, partition and offset) always give the same key."""
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for r in records:
        low, high = spans.get((r.topic, r.partition), (r.offset, r.offset))
        spans[r.topic, r.partition] = (min(low, r.offset), max(high, r.offset))
    text = ";".join(f"{t}/{p}/{lo}-{hi}" for (t, p), (lo, hi) in sorted(spans.items()))
    return "sw-" + hashlib.sha256(text.encode()).hexdigest()[:32]


class WebhookSink(Sink):
    """POSTs records to ``config.url``; see the module docstring for the answers."""

    def __init__(self, config: WebhookSinkConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._delivered: set[Delivered] = set()

    async def start(self, context: SinkContext) -> None:
        """Open the HTTP session."""
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        headers["Content-Type"] = "application/json"
        self._session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=self.config.timeout_s)
        )

    async def write(self, batch: Sequence[SinkRecord]) -> None:
        """POST ``batch`` in requests of ``max_batch`` records, skipping delivered ones."""
        ids = {_id(r) for r in batch}
        self._delivered &= ids  # only this batch's records can come back
        todo = [r for r in batch if _id(r) not in self._delivered]
        rejected: list[SinkRecord] = []
        reasons: list[str] = []
        size = self.config.max_batch
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            refusal = await self._post(chunk)
            if refusal is None:
                self._delivered.update(_id(r) for r in chunk)
            else:
                rejected.extend(chunk)
                reasons.append(refusal)
        if rejected:
            raise RejectedError(
                f"connector {self.name}: {self.config.url} refused {len(rejected)} records "
                f"({'; '.join(reasons[:3])})",
                records=rejected,
            )

    async def flush(self) -> None:
        """Nothing to do: every request was answered before ``write`` returned."""
        self._delivered.clear()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, chunk: Sequence[SinkRecord]) -> str | None:
        """POST one request; None when delivered, the reason when refused for good."""
        if self._session is None:
            raise RuntimeError(f"webhook sink {self.name} was not started")
        body = to_json([record_document(r) for r in chunk]).encode()
        headers = {}
        if self.config.idempotency_header:
            headers[self.config.idempotency_header] = idempotency_key(chunk)
        url = self.config.url
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                status = answer.status
                text = (await answer.text(errors="replace"))[:_SHOWN]
                retry_after = _retry_after(answer.headers.get("Retry-After"))
        except TimeoutError as error:
            raise TransientError(
                f"connector {self.name}: {url} did not answer within {self.config.timeout_s}s"
            ) from error
        except aiohttp.ClientError as error:
            raise TransientError(
                f"connector {self.name}: cannot reach {url} ({type(error).__name__}: {error})"
            ) from error
        if 200 <= status < 300:  # noqa: PLR2004 - the 2xx class
            return None
        reason = f"HTTP {status}: {text.strip()}" if text.strip() else f"HTTP {status}"
        if status >= 500 or status in _RETRIED:  # noqa: PLR2004 - the 5xx class
            raise TransientError(
                f"connector {self.name}: {url} answered {reason}", retry_after=retry_after
            )
        logger.warning(
            "connector %s: %s refused %d records: %s", self.name, url, len(chunk), reason
        )
        return reason


def _id(record: SinkRecord) -> Delivered:
    return record.topic, record.partition, record.offset


def _retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
