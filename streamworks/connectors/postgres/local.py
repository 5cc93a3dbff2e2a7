"""A throwaway PostgreSQL cluster on a free loopback port, for tests, benchmarks and the demo.

It runs Debian's server binaries (``apt-get install postgresql``) as a private cluster in
its own directory: ``initdb`` with trust authentication, a server listening on 127.0.0.1
only, its unix socket inside the data directory. PostgreSQL refuses to run as root, so
when we are root the server runs as the ``postgres`` system user (through ``runuser``)
and owns its directory. ``stop()`` keeps the data, so ``start()`` again restarts the same
cluster on the same port (tests use that to take the database away and bring it back).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from streamworks.connectors.base.errors import ConnectorError

__all__ = ["LocalPostgres", "LocalPostgresError", "find_binaries"]

logger = logging.getLogger(__name__)

_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_SYSTEM_USER = "postgres"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_INSTALL_HINT = "install the server with `apt-get install postgresql`"


class LocalPostgresError(ConnectorError):
    """The throwaway cluster could not be set up, started or stopped."""


def find_binaries() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb (or initdb on PATH)."""
    versions = []
    if _DEBIAN_ROOT.is_dir():
        for candidate in _DEBIAN_ROOT.iterdir():
            if (candidate / "bin" / "initdb").is_file() and candidate.name.isdigit():
                versions.append((int(candidate.name), candidate / "bin"))
    if versions:
        return max(versions)[1]
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).parent
    raise LocalPostgresError(
        f"no PostgreSQL server binaries (initdb) under {_DEBIAN_ROOT}/*/bin or on PATH; "
        f"{_INSTALL_HINT}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalPostgres:
    """A private PostgreSQL server: ``with LocalPostgres() as pg: connect(pg.url)``.

    ``directory`` holds the cluster (created if missing); by default a fresh directory
    under the system temp dir, removed by :meth:`cleanup` (and on leaving the ``with``).
    When running as root the directory and its parents must be traversable by the
    ``postgres`` user, which is why the default lives under /tmp.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        database: str = "streamworks",
        user: str = "postgres",
        port: int | None = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        if not _IDENTIFIER.fullmatch(database) or not _IDENTIFIER.fullmatch(user):
            raise LocalPostgresError(
                f"database {database!r} and user {user!r} must be plain identifiers "
                "(letters, digits, underscores)"
            )
        self._owned = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="streamworks-pg-"))
        self.data_dir = self.directory / "data"
        self.log_file = self.directory / "server.log"
        self.database = database
        self.user = user
        self.port = port or _free_port()
        self.start_timeout_s = start_timeout_s
        self._bin = find_binaries()
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        """The database's DSN: ``postgresql://postgres@127.0.0.1:<port>/<database>``."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def running(self) -> bool:
        """Whether the server is up (pg_ctl status)."""
        done = self._run(["pg_ctl", "status", "-D", str(self.data_dir)], check=False)
        return done.returncode == 0

    def start(self) -> float:
        """Create the cluster on first use, start the server, wait until it accepts; seconds."""
        started = time.monotonic()
        if not (self.data_dir / "PG_VERSION").is_file():
            self._init()
        self._run(
            [
                "pg_ctl", "start", "--wait", f"--timeout={int(self.start_timeout_s)}",
                "-D", str(self.data_dir), "-l", str(self.log_file),
            ],
            what="start the server",
        )  # fmt: skip
        self._wait_ready(started + self.start_timeout_s)
        self._create_database()
        took = time.monotonic() - started
        logger.info("PostgreSQL at %s ready in %.1f s", self.url, took)
        return took

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are ended, data is kept)."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run(
                ["pg_ctl", "stop", "--wait", "-m", "fast", "-D", str(self.data_dir)],
                what="stop the server",
            )

    def cleanup(self) -> None:
        """Stop the server and, if this object created the directory, remove it."""
        self.stop()
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- internals ---------------------------------------------------------------------------
    def _init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        if self._as_postgres:
            # the cluster runs as postgres: it owns its directory and may write its log there
            self.directory.chmod(0o755)
            shutil.chown(self.directory, user=_SYSTEM_USER, group=_SYSTEM_USER)
            shutil.chown(self.data_dir, user=_SYSTEM_USER, group=_SYSTEM_USER)
        self._run(
            [
                "initdb", "-D", str(self.data_dir), "--username", self.user,
                "--auth", "trust", "--encoding", "UTF8", "--locale", "C.UTF-8",
                "--no-sync", "--no-instructions",
            ],
            what="create the cluster",
        )  # fmt: skip
        settings = (
            "\n# streamworks throwaway cluster\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.data_dir}'\n"
            "max_connections = 50\n"
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def _wait_ready(self, deadline: float) -> None:
        command = ["pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        while True:
            if self._run(command, check=False).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise LocalPostgresError(
                    f"PostgreSQL on 127.0.0.1:{self.port} did not accept connections within "
                    f"{self.start_timeout_s:.0f} s; see {self.log_file}"
                )
            time.sleep(0.1)

    def _create_database(self) -> None:
        done = self._run(
            ["createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database],
            check=False,
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise LocalPostgresError(
                f"could not create database {self.database} on 127.0.0.1:{self.port}: "
                f"{done.stderr.strip()}"
            )

    def _run(
        self, command: list[str], *, what: str = "", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        program = self._bin / command[0]
        argv = [str(program) if program.is_file() else command[0], *command[1:]]
        if self._as_postgres:
            argv = ["runuser", "-u", _SYSTEM_USER, "--", *argv]
        try:
            done = subprocess.run(  # noqa: S603 - our own binaries, arguments built here
                argv, capture_output=True, text=True, timeout=120, check=False, cwd="/"
            )
        except FileNotFoundError as error:
            raise LocalPostgresError(f"cannot run {argv[0]}: {error}; {_INSTALL_HINT}") from None
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise LocalPostgresError(
                f"could not {what or command[0]} in {self.data_dir} "
                f"(exit {done.returncode}): {' '.join(detail)}; see {self.log_file}"
            )
        return done
