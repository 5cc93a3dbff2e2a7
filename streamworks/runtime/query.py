"""Table queries: an aggregation's current value for a key, from any worker of its stage.

A key belongs to one input partition (Kafka's murmur2 of its UTF-8 bytes over the stage's
input topic, as the repartition stage wrote it), and that partition's state lives in exactly
one worker. Every aggregation worker serves ``GET /tables/{stage}/{key}`` and publishes its
address and owned partitions with its stats (:mod:`streamworks.runtime.stats`). A worker asked for
a key it does not own forwards the request to the owner it last heard of; the forwarded request
carries :data:`ROUTED_HEADER`, so it is never forwarded twice. Mid-rebalance, when no live
worker claims the partition for a few seconds, the answer is 503: ask again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiokafka.errors import KafkaError
from yarl import URL

from streamworks.core.errors import StreamworksError
from streamworks.core.settings import Settings
from streamworks.kafka.clients import key_partitioner
from streamworks.kafka.errors import unreachable_message
from streamworks.pipeline.graph import Pipeline
from streamworks.pipeline.stage import Stage
from streamworks.pipeline.windows import Window
from streamworks.runtime.stats import STATS_TOPIC, StatsFollower, read_latest

__all__ = [
    "ROUTED_HEADER",
    "NoOwnerError",
    "NoValueError",
    "NotATableError",
    "QueryError",
    "QueryServer",
    "Table",
    "WorkerAddress",
    "key_partition",
    "live_workers",
    "query_table",
    "render",
]

logger = logging.getLogger(__name__)

ROUTED_HEADER = "X-Streamworks-Routed-From"
_LIVE_S = 10.0  # workers republish every 2 s: this much silence means the worker is gone
_OWNER_WAIT_S = 3.0  # how long a miss waits for the stats to name the partition's owner
_TIMEOUT = aiohttp.ClientTimeout(total=5.0)
_OK, _NOT_FOUND, _UNAVAILABLE = 200, 404, 503


class QueryError(StreamworksError):
    """A table query could not be answered."""


class NotATableError(QueryError):
    """The stage asked for is not an aggregation of the pipeline (so it has no table)."""


class NoValueError(QueryError):
    """The key has no value in the table."""


class NoOwnerError(QueryError):
    """No live worker owns the key's partition now (none runs, or a rebalance is under way)."""

    retriable = True


class Table(Protocol):
    """What the server needs of an aggregation worker."""

    @property
    def stage(self) -> Stage[Any]:
        """The aggregation stage it runs."""

    @property
    def partitions(self) -> set[int]:
        """The input partitions whose state it holds now."""

    def value(self, partition: int, key: str) -> Any:
        """The key's value (None if none); KeyError when ``partition`` is not held."""


@dataclass(frozen=True)
class WorkerAddress:
    """Where one live worker of a stage answers queries, as it last published."""

    worker: str
    """The worker's id."""
    address: str
    """``host:port`` of its query server."""
    partitions: frozenset[int]
    """The partitions it owned when it published."""
    at: float
    """When it published (epoch seconds)."""


def table_stage(pipeline: Pipeline, stage: str) -> Stage[Any]:
    """The aggregation stage ``stage``; NotATableError naming the tables when it is not one."""
    found = pipeline.stages.get(stage)
    if found is None or found.aggregation is None:
        tables = [s.name for s in pipeline.stages.values() if s.aggregation is not None]
        raise NotATableError(
            f"pipeline {pipeline.name} has no aggregation stage {stage!r}; "
            f"tables: {', '.join(tables) or 'none'}"
        )
    return found


def key_partition(pipeline: Pipeline, stage: str, key: str) -> int:
    """The input partition (of the stage's declared input topic) whose state holds ``key``."""
    topic = table_stage(pipeline, stage).inputs[0]
    partitions = list(range(pipeline.topics()[topic].partitions))
    return key_partitioner(key.encode(), partitions, partitions)


def live_workers(
    latest: Mapping[bytes, Mapping[str, Any]], pipeline: str, stage: str, now: float
) -> list[WorkerAddress]:
    """Workers of ``stage`` serving queries, newest first; stopped or silent ones left out."""
    found = [
        WorkerAddress(
            str(v["worker"]), str(v["query"]), frozenset(v.get("partitions", ())), float(v["at"])
        )
        for v in latest.values()
        if v.get("pipeline") == pipeline
        and v.get("stage") == stage
        and v.get("query")
        and not v.get("stopped")
        and now - float(v.get("at", 0)) < _LIVE_S
    ]
    return sorted(found, key=lambda w: w.at, reverse=True)


def render(value: Any, *, windowed: bool) -> Any:
    """A value as JSON-ready data: windows become objects with ISO start and end times."""
    if not windowed or value is None:
        return value
    return [
        {
            "start": _iso(window.start_ms),
            "end": _iso(window.end_ms),
            "start_ms": window.start_ms,
            "end_ms": window.end_ms,
            "result": result,
        }
        for window, result in value
        if isinstance(window, Window)
    ]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _json(data: Any) -> str:
    def fallback(item: Any) -> Any:
        if isinstance(item, set | frozenset):
            return sorted(item, key=str)
        if isinstance(item, datetime):
            return item.isoformat()
        return str(item)

    return json.dumps(data, default=fallback)


async def _fetch(
    session: aiohttp.ClientSession, address: str, stage: str, key: str, routed_from: str = ""
) -> tuple[int, dict[str, Any]]:
    """GET one table value from the worker at ``address``: (status, JSON body)."""
    url = URL(
        f"http://{address}/tables/{quote(stage, safe='')}/{quote(key, safe='')}", encoded=True
    )
    headers = {ROUTED_HEADER: routed_from} if routed_from else {}
    async with session.get(url, headers=headers) as response:
        body = await response.json(content_type=None)
        return response.status, body if isinstance(body, dict) else {"error": str(body)}


async def query_table(
    settings: Settings, pipeline: Pipeline, stage: str, key: str
) -> dict[str, Any]:
    """Ask a live worker of ``stage`` (it routes to the key's owner) for ``key``'s value."""
    table_stage(pipeline, stage)
    try:
        latest = await read_latest(settings)
    except KafkaError as error:
        raise NoOwnerError(
            unreachable_message(error, settings.bootstrap_servers)
            or f"cannot read the workers' addresses from {STATS_TOPIC} at "
            f"{settings.bootstrap_servers}: {error}"
        ) from error
    workers = live_workers(latest, pipeline.name, stage, time.time())
    if not workers:
        raise NoOwnerError(
            f"no worker of stage {stage} of pipeline {pipeline.name} is running; start one "
            f"with `streamworks worker {pipeline.name} --stage {stage}`"
        )
    problems: list[str] = []
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        for worker in workers:
            try:
                status, body = await _fetch(session, worker.address, stage, key)
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                problems.append(f"{worker.address}: {error or type(error).__name__}")
                continue
            if status == _OK:
                return body
            message = str(body.get("error", body))
            raise (NoValueError if status == _NOT_FOUND else NoOwnerError)(message)
    raise NoOwnerError(
        f"no worker of stage {stage} of pipeline {pipeline.name} answered: {'; '.join(problems)}"
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as JSON ``{"error": ...}``; never a stack trace."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:  # noqa: PLR2004 - redirects pass through
            raise
        return _reply({"error": f"{error.reason}: {request.method} {request.path}"}, error.status)
    except Exception:
        logger.exception("table query %s failed", request.path)
        return _reply({"error": f"internal error answering {request.path}; see its log"}, 500)


def _reply(body: dict[str, Any], status: int = _OK) -> web.Response:
    return web.Response(text=_json(body), status=status, content_type="application/json")


class QueryServer:
    """Serves one aggregation worker's table over HTTP, routing other keys to their owners.

    ``details()`` is what the worker's :class:`~streamworks.runtime.stats.StatsPublisher` should
    carry, so that other workers (and ``streamworks table get``) find this one.
    """

    def __init__(
        self,
        worker: Table,
        pipeline: Pipeline,
        settings: Settings,
        worker_id: str,
        *,
        follower: StatsFollower | None = None,
    ) -> None:
        self._worker = worker
        self._pipeline = pipeline
        self._settings = settings
        self.worker_id = worker_id
        """The id this worker publishes its stats under."""
        self.address: str | None = None
        """``host:port`` it answers at, known once started."""
        self._follower = follower or StatsFollower(settings)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def details(self) -> dict[str, Any]:
        """The address and owned partitions to publish with the worker's stats."""
        return {"query": self.address, "partitions": sorted(self._worker.partitions)}

    async def start(self) -> None:
        """Follow the stats topic and serve HTTP."""
        await self._follower.start()
        self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        app = web.Application(middlewares=[_errors])
        app.router.add_get("/health", self._health)
        app.router.add_get("/tables/{stage}/{key:.+}", self._table)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.query_host, self._settings.query_port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        logger.info("tables of %s served at http://%s", self._worker.stage.name, self.address)

    async def stop(self) -> None:
        """Stop serving and following."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        await self._follower.stop()

    async def _health(self, request: web.Request) -> web.Response:
        return _reply(
            {
                "status": "ok",
                "pipeline": self._pipeline.name,
                "stage": self._worker.stage.name,
                "worker": self.worker_id,
                "partitions": sorted(self._worker.partitions),
            }
        )

    async def _table(self, request: web.Request) -> web.Response:
        stage, key = request.match_info["stage"], request.match_info["key"]
        try:
            partition = key_partition(self._pipeline, stage, key)
        except NotATableError as error:
            return _reply({"error": str(error), "stage": stage, "key": key}, _NOT_FOUND)
        except UnicodeEncodeError:
            return _reply({"error": f"key {key!r} is not valid UTF-8", "stage": stage}, 400)
        context = {"stage": stage, "key": key, "partition": partition}
        routed_from = request.headers.get(ROUTED_HEADER, "")
        deadline = time.monotonic() + _OWNER_WAIT_S
        problem = (
            f"no live worker of stage {stage} owns partition {partition} "
            "(a rebalance is under way, or none runs); ask again shortly"
        )
        while True:
            local = self._local(stage, partition, key, context)
            if local is not None:
                return local
            if routed_from:  # forwarded here by a worker whose directory was out of date
                problem = f"worker {self.worker_id} does not own partition {partition} of {stage}"
                break
            answer = await self._forward(stage, partition, key, context)
            if isinstance(answer, web.Response):
                return answer
            problem = answer or problem
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        return _reply({"error": problem, **context}, _UNAVAILABLE)

    def _local(
        self, stage: str, partition: int, key: str, context: dict[str, Any]
    ) -> web.Response | None:
        """This worker's answer, or None when it does not own the partition."""
        if stage != self._worker.stage.name:
            return None
        try:
            value = self._worker.value(partition, key)
        except KeyError:
            return None
        body = {**context, "worker": self.worker_id}
        if value is None or value == []:
            return _reply({"error": f"key {key!r} has no value in {stage}", **body}, _NOT_FOUND)
        windowed = self._worker.stage.aggregation is not None and bool(
            self._worker.stage.aggregation.window
        )
        return _reply({**body, "value": render(value, windowed=windowed)})

    async def _forward(
        self, stage: str, partition: int, key: str, context: dict[str, Any]
    ) -> web.Response | str | None:
        """The owner's answer; else why it could not be had (None: no owner known yet)."""
        owners = [
            w
            for w in live_workers(self._follower.latest, self._pipeline.name, stage, time.time())
            if partition in w.partitions and w.worker != self.worker_id
        ]
        if not owners or self._session is None:
            return None
        owner = owners[0]
        try:
            status, body = await _fetch(self._session, owner.address, stage, key, self.worker_id)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            reason = error or type(error).__name__
            return f"owner {owner.worker} of partition {partition} at {owner.address}: {reason}"
        if status == _UNAVAILABLE:
            return str(body.get("error", "the owner could not answer"))
        return _reply({**context, **body, "routed_from": self.worker_id}, status)
