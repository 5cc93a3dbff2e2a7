"""Low-level process and port helpers for the launcher (POSIX)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
from collections.abc import Collection
from pathlib import Path

_PORT_RANGE = (20_000, 32_000)  # below Linux's ephemeral ports (32768+), which clients take


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port`` and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_accepts(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port_block(size: int, attempts: int = 200) -> int:
    """A base port such that ``size`` consecutive loopback ports from it are all free."""
    rng = random.SystemRandom()
    for _ in range(attempts):
        base = rng.randrange(_PORT_RANGE[0], _PORT_RANGE[1] - size)
        if all(port_is_free(base + i) for i in range(size)):
            return base
    raise OSError(f"no block of {size} free loopback ports found in {_PORT_RANGE}")


_SERVER_MAIN = b"kafka.Kafka"
"""The main class of a Kafka server JVM; its first argument is the server.properties path."""


def server_properties_of(pid: int) -> str | None:
    """The server.properties path ``pid`` runs a Kafka server with, or None when ``pid`` is
    gone, a zombie or anything but a Kafka server JVM."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if _SERVER_MAIN not in argv or _is_zombie(pid):
        return None
    position = argv.index(_SERVER_MAIN) + 1
    return argv[position].decode(errors="replace") if position < len(argv) else None


def is_node_jvm(pid: int, properties: str) -> bool:
    """True when ``pid`` is alive and is the Kafka server started with exactly ``properties``.

    The path is the node's own, so neither a recycled pid of an unrelated process, nor the
    storage tool formatting the node, nor a node of another cluster is ever taken for it.
    """
    return server_properties_of(pid) == properties


def find_node_jvms(properties: Collection[str]) -> dict[str, int]:
    """The running Kafka servers started with one of ``properties``: path -> pid.

    Finds a node whichever way it was started (by this launcher, by another process, by
    hand), so no pid file is needed to see it.
    """
    wanted = set(properties)
    found: dict[str, int] = {}
    if not wanted:
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        path = server_properties_of(int(entry.name))
        if path in wanted:
            found.setdefault(path, int(entry.name))
    return found


def terminate(targets: list[tuple[int, str]], grace_seconds: float) -> None:
    """Stop the ``(pid, properties)`` Kafka nodes: SIGTERM all, then SIGKILL laggards.

    Only a pid that still is the node started with that server.properties is signalled.

    All are signalled at once: nodes of one cluster that stop one by one wait on each other
    (the last one cannot reach a controller quorum and would hang until killed).
    """
    ours = [(pid, path) for pid, path in targets if is_node_jvm(pid, path)]
    for pid, _ in ours:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    if _wait_gone(ours, grace_seconds):
        return
    for pid, path in ours:
        if _alive(pid, path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    _wait_gone(ours, 10)


def _alive(pid: int, properties: str) -> bool:
    if not is_node_jvm(pid, properties):
        _reap(pid)
        return False
    return True


def _wait_gone(targets: list[tuple[int, str]], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if not any(_alive(pid, path) for pid, path in targets):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child, so no zombie stays behind."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a text file, or a note that it is empty or missing."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} does not exist)"
    chosen = text.rstrip().splitlines()[-lines:]
    return "\n".join(chosen) if chosen else f"({path} is empty)"
