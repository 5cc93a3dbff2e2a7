"""Local worker pools: one process per worker, restarted when it crashes, scaled on demand."""

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

__all__ = ["GIVE_UP_AFTER", "Supervisor", "WorkerProcess"]

_QUICK_EXIT_S = 10.0
_MAX_BACKOFF_S = 30.0
GIVE_UP_AFTER = 5
"""Quick exits in a row (each within 10 s of starting) after which a stage is failing."""

logger = logging.getLogger(__name__)


@dataclass
class WorkerProcess:
    """One worker process of one stage."""

    stage: str
    """The stage it runs."""
    process: subprocess.Popen[bytes]
    """The running process."""
    started: float = field(default_factory=time.monotonic)
    """When it was started (monotonic seconds)."""
    draining: bool = False
    """True once it was asked to stop (it is not restarted when it exits)."""


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
    ) -> None:
        """``log_dir``: write each worker's output to ``<stage>-<n>.log`` there.
        ``state_dir``: the workers' (for their crash-loop markers; default: the settings').
        """
        self.pipeline = pipeline
        self._env = {**os.environ, **(env or {})}
        if state_dir is None:
            given = self._env.get("STREAMWORKS_STATE_DIR")
            state_dir = Path(given) if given else Settings().state_dir
        self._state_dir = state_dir
        self.pools = dict(pools)
        self.restarts = 0
        """How many crashed workers were replaced."""
        self._log_dir = log_dir
        self.stopped: set[str] = set()
        """Stages whose worker stopped itself on a bug (its breaker tripped)."""
        self._quick_failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self._started = 0
        self._workers: list[WorkerProcess] = []

    def failing(self) -> list[str]:
        """Stages that a restart cannot help: one stopped itself on a bug, or its workers
        exited soon after starting ``GIVE_UP_AFTER`` times in a row."""
        looping = [s for s, count in self._quick_failures.items() if count >= GIVE_UP_AFTER]
        return sorted(self.stopped | set(looping))

    def workers(self, stage: str | None = None) -> list[WorkerProcess]:
        """Live (not draining) workers, of one stage or all."""
        return [w for w in self._workers if not w.draining and (stage is None or w.stage == stage)]

    def start(self) -> None:
        """Start every pool at its size."""
        for stage in self.pools:
            self._fill(stage)

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
                self.stopped.add(worker.stage)
                logger.warning(
                    "worker of %s: its stage stopped itself; not restarting it", worker.stage
                )
                continue
            self.restarts += 1
            reason = exit_reason(code)
            if fold_dead_worker(self._state_dir, worker.process.pid, reason):
                # it died with records in its batch: the next worker narrows them down
                # (streamworks.runtime.crashloop), so restarting is progress, not a loop
                self._quick_failures[worker.stage] = 0
                self._not_before[worker.stage] = 0.0
            else:
                self._back_off(worker)
            logger.warning("worker of %s %s; starting another", worker.stage, reason)
        for stage in self.pools:
            if stage not in self.stopped:
                self._fill(stage)

    def scale(self, stage: str, size: int) -> None:
        """Grow or shrink a pool; shrinking drains workers with SIGTERM (they commit, leave)."""
        self.pools[stage] = size
        extra = self.workers(stage)[size:]
        for worker in extra:
            worker.draining = True
            worker.process.send_signal(signal.SIGTERM)
        self._fill(stage)

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
                logger.warning("worker of %s did not drain in time; killing it", worker.stage)
                worker.process.kill()
                worker.process.wait()
        self._workers.clear()

    def _back_off(self, worker: WorkerProcess) -> None:
        """A worker that dies soon after starting waits longer each time before a restart."""
        if time.monotonic() - worker.started < _QUICK_EXIT_S:
            failures = self._quick_failures.get(worker.stage, 0) + 1
            self._quick_failures[worker.stage] = failures
            delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** (failures - 1))
            self._not_before[worker.stage] = time.monotonic() + delay
        else:
            self._quick_failures[worker.stage] = 0

    def _fill(self, stage: str) -> None:
        if time.monotonic() < self._not_before.get(stage, 0.0):
            return
        while len(self.workers(stage)) < self.pools[stage]:
            command = [sys.executable, "-m", "streamworks", "worker", self.pipeline]
            command += ["--stage", stage, "--supervisor-pid", str(os.getpid())]
            self._started += 1
            output = None
            if self._log_dir is not None:
                self._log_dir.mkdir(parents=True, exist_ok=True)
                output = (self._log_dir / f"{stage}-{self._started}.log").open("wb")
            process = subprocess.Popen(  # noqa: S603 - our own CLI
                command, env=self._env, stdout=output, stderr=subprocess.STDOUT if output else None
            )
            if output is not None:
                output.close()  # the child has its own copy
            self._workers.append(WorkerProcess(stage, process))
            logger.info("started a worker of %s (pid %d)", stage, process.pid)
