"""Local worker pools: worker processes, restarted when they crash, scaled on demand.

By default each worker is a process of its own. With ``processes=N`` the workers of the
pools are packed into N processes at the start (:func:`pack`): each runs one worker of
several stages in one event loop (``streamworks worker PIPELINE --stage a --stage b``), and
a 12-stage pipeline on a small machine is not 12 Python interpreters. Workers added later
(``scale``, the autoscaler) are processes of their own.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from streamworks.core.settings import Settings
from streamworks.runtime.crash_ledger import exit_reason, fold_dead_worker, stopped_itself

__all__ = ["GIVE_UP_AFTER", "Supervisor", "WorkerProcess", "pack"]

_QUICK_EXIT_S = 10.0
_MAX_BACKOFF_S = 30.0
GIVE_UP_AFTER = 5
"""Quick exits in a row (each within 10 s of starting) after which a stage is failing."""

logger = logging.getLogger(__name__)


Unit = tuple[str, ...]
"""The stages one worker process runs, one worker of each."""


def pack(pools: dict[str, int], processes: int) -> dict[Unit, int]:
    """Lay the pools' workers out over ``processes`` processes: unit -> how many processes.

    Workers are dealt round-robin, stage by stage, so the packs are even and no pack holds
    two workers of one stage; a stage with more workers than there are processes gets its
    extra ones as processes of their own.
    """
    packs: list[list[str]] = [[] for _ in range(max(1, processes))]
    units: dict[Unit, int] = {}
    turn = 0
    for stage, size in pools.items():
        for _ in range(min(size, len(packs))):
            packs[turn % len(packs)].append(stage)
            turn += 1
        if size > len(packs):
            units[(stage,)] = size - len(packs)
    for stages in filter(None, packs):
        units[tuple(stages)] = units.get(tuple(stages), 0) + 1
    return units


@dataclass
class WorkerProcess:
    """One worker process: one worker of each of its stages."""

    stages: Unit
    """The stages it runs."""
    process: subprocess.Popen[bytes]
    """The running process."""
    started: float = field(default_factory=time.monotonic)
    """When it was started (monotonic seconds)."""
    draining: bool = False
    """True once it was asked to stop (it is not restarted when it exits)."""

    @property
    def name(self) -> str:
        """Its stages, joined with ``+``."""
        return "+".join(self.stages)


class Supervisor:
    """Starts ``streamworks worker`` processes per stage and keeps the pools at size.

    Workers never outlive it: each is told its supervisor's pid and stops (drains, commits,
    leaves) when that process is gone, however it ended (see :mod:`streamworks.ops.lifeline`).
    On Linux that signal comes when the *thread* that started the worker ends, so call
    :meth:`start`, :meth:`poll` and :meth:`scale` from one that lives as long as the pools.
    """

    def __init__(
        self,
        pipeline: str,
        pools: dict[str, int],
        *,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        state_dir: Path | None = None,
        processes: int | None = None,
    ) -> None:
        """``log_dir``: write each worker's output to ``<stage>-<n>.log`` there.
        ``state_dir``: the workers' (for their crash-loop markers; default: the settings').
        ``processes``: pack the pools' workers into that many processes (:func:`pack`).
        """
        self.pipeline = pipeline
        self._env = {**os.environ, **(env or {})}
        if state_dir is None:
            given = self._env.get("STREAMWORKS_STATE_DIR")
            state_dir = Path(given) if given else Settings().state_dir
        self._state_dir = state_dir
        self.pools = dict(pools)
        self._units: dict[Unit, int] = (
            pack(self.pools, processes)
            if processes
            else {(stage,): size for stage, size in self.pools.items()}
        )
        self.restarts = 0
        """How many crashed workers were replaced."""
        self._log_dir = log_dir
        self.stopped: set[str] = set()
        """Stages whose worker stopped itself on a bug (its breaker tripped)."""
        self._quick_failures: dict[Unit, int] = {}
        self._not_before: dict[Unit, float] = {}
        self._started = 0
        self._workers: list[WorkerProcess] = []

    def failing(self) -> list[str]:
        """Stages that a restart cannot help: one stopped itself on a bug, or its workers
        exited soon after starting ``GIVE_UP_AFTER`` times in a row."""
        looping = {
            stage
            for unit, count in self._quick_failures.items()
            if count >= GIVE_UP_AFTER
            for stage in unit
        }
        return sorted(self.stopped | looping)

    def workers(self, stage: str | None = None) -> list[WorkerProcess]:
        """Live (not draining) worker processes, of one stage or all."""
        return [w for w in self._workers if not w.draining and (stage is None or stage in w.stages)]

    @property
    def processes(self) -> int:
        """Live worker processes."""
        return len(self.workers())

    def start(self) -> None:
        """Start every pool at its size."""
        for unit in self._units:
            self._fill(unit)

    def poll(self) -> None:
        """Reap exited workers; replace crashed ones; finish drained ones."""
        for worker in list(self._workers):
            code = worker.process.poll()
            if code is None:
                continue
            self._workers.remove(worker)
            if worker.draining:
                continue
            if stopped_itself(self._state_dir, worker.process.pid):
                # its stage's breaker tripped on a bug: another worker would stop the same way
                self.stopped.update(worker.stages)
                logger.warning(
                    "worker of %s: its stage stopped itself; not restarting it", worker.name
                )
                continue
            self.restarts += 1
            reason = exit_reason(code)
            if fold_dead_worker(self._state_dir, worker.process.pid, reason):
                # it died with records in its batch: the next worker narrows them down
                # (streamworks.runtime.crashloop), so restarting is progress, not a loop
                self._quick_failures[worker.stages] = 0
                self._not_before[worker.stages] = 0.0
            else:
                self._back_off(worker)
            logger.warning("worker of %s %s; starting another", worker.name, reason)
        for unit in self._units:
            if not self.stopped.intersection(unit):
                self._fill(unit)

    def scale(self, stage: str, size: int) -> None:
        """Grow or shrink a pool with processes of the stage's own; shrinking drains them
        with SIGTERM (they commit, leave). Workers packed with other stages stay."""
        packed = sum(n for unit, n in self._units.items() if stage in unit and unit != (stage,))
        own = max(0, size - packed)
        self.pools[stage] = packed + own
        self._units[(stage,)] = own
        extra = [w for w in self.workers(stage) if w.stages == (stage,)][own:]
        for worker in extra:
            worker.draining = True
            worker.process.send_signal(signal.SIGTERM)
        self._fill((stage,))

    def stop(self, grace_seconds: float = 30.0) -> None:
        """SIGTERM every worker, wait for them to drain, SIGKILL what is left."""
        for worker in self._workers:
            worker.draining = True
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for worker in self._workers:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                worker.process.wait(remaining)
            except subprocess.TimeoutExpired:
                logger.warning("worker of %s did not drain in time; killing it", worker.name)
                worker.process.kill()
                worker.process.wait()
        self._workers.clear()

    def _back_off(self, worker: WorkerProcess) -> None:
        """A worker that dies soon after starting waits longer each time before a restart."""
        if time.monotonic() - worker.started < _QUICK_EXIT_S:
            failures = self._quick_failures.get(worker.stages, 0) + 1
            self._quick_failures[worker.stages] = failures
            delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** (failures - 1))
            self._not_before[worker.stages] = time.monotonic() + delay
        else:
            self._quick_failures[worker.stages] = 0

    def _fill(self, unit: Unit) -> None:
        if time.monotonic() < self._not_before.get(unit, 0.0):
            return
        live = [w for w in self._workers if not w.draining and w.stages == unit]
        for _ in range(self._units.get(unit, 0) - len(live)):
            command = [sys.executable, "-m", "streamworks", "worker", self.pipeline]
            for stage in unit:
                command += ["--stage", stage]
            command += ["--supervisor-pid", str(os.getpid())]
            self._started += 1
            name = "+".join(unit)
            output = None
            if self._log_dir is not None:
                self._log_dir.mkdir(parents=True, exist_ok=True)
                output = (self._log_dir / f"{name}-{self._started}.log").open("wb")
            process = subprocess.Popen(  # noqa: S603 - our own CLI
                command, env=self._env, stdout=output, stderr=subprocess.STDOUT if output else None
            )
            if output is not None:
                output.close()  # the child has its own copy
            self._workers.append(WorkerProcess(unit, process))
            logger.info("started a worker of %s (pid %d)", name, process.pid)
