"""Low-level process and port helpers for the launcher (POSIX)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
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


def is_our_process(pid: int, marker: str) -> bool:
    """True when ``pid`` is alive and its command line contains ``marker``.

    The marker (the node's own server.properties path) makes sure a recycled pid of an
    unrelated process is never signalled.
    """
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return marker in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False


def terminate(targets: list[tuple[int, str]], grace_seconds: float) -> None:
    """Stop the ``(pid, marker)`` processes that are ours: SIGTERM all, then SIGKILL laggards.

    All are signalled at once: nodes of one cluster that stop one by one wait on each other
    (the last one cannot reach a controller quorum and would hang until killed).
    """
    ours = [(pid, marker) for pid, marker in targets if is_our_process(pid, marker)]
    for pid, _ in ours:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    if _wait_gone(ours, grace_seconds):
        return
    for pid, marker in ours:
        if _alive(pid, marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    _wait_gone(ours, 10)


def _alive(pid: int, marker: str) -> bool:
    if not is_our_process(pid, marker) or _is_zombie(pid):
        _reap(pid)
        return False
    return True


def _wait_gone(targets: list[tuple[int, str]], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if not any(_alive(pid, marker) for pid, marker in targets):
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
