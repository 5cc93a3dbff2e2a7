"""``streamworks registry``: run a schema registry instance until SIGTERM or SIGINT.

``streamworks registry users add|remove`` keep its users file (see
``streamworks/registry/README.md``, "Security"). ``registry`` works both as a plain command and
as the callback of :data:`app`, the group that also holds ``users``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from streamworks.registry import RegistryConfig, RegistryService
from streamworks.registry.errors import UsersFileError
from streamworks.registry.users import Role, add_user, load_users, save_users

__all__ = ["app", "registry", "users_app"]

console = Console(stderr=True)

UsersFile = Annotated[
    Path | None,
    typer.Option(
        "--users-file",
        "--file",
        envvar="STREAMWORKS_REGISTRY_USERS_FILE",
        help="JSON users file (hashed passwords, roles, subject patterns); "
        "without it the registry is open to anyone who reaches it.",
    ),
]


def registry(
    ctx: typer.Context,
    *,
    host: Annotated[
        str, typer.Option(envvar="STREAMWORKS_REGISTRY_HOST", help="Interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="STREAMWORKS_REGISTRY_PORT", help="HTTP port (0: any free).")
    ] = 8081,
    bootstrap: Annotated[
        str,
        typer.Option(
            envvar="STREAMWORKS_BOOTSTRAP_SERVERS",
            help="Kafka brokers (host:port, comma-separated).",
        ),
    ] = "127.0.0.1:9092",
    topic: Annotated[
        str,
        typer.Option(
            envvar="STREAMWORKS_REGISTRY_TOPIC", help="Compacted topic holding all state."
        ),
    ] = "_schemas",
    advertised_url: Annotated[
        str | None,
        typer.Option(
            envvar="STREAMWORKS_REGISTRY_ADVERTISED_URL",
            help="URL other instances forward writes to [default: http(s)://<host>:<port>].",
        ),
    ] = None,
    startup_timeout: Annotated[
        float,
        typer.Option(
            envvar="STREAMWORKS_REGISTRY_STARTUP_TIMEOUT",
            help="Seconds to read the topic to its end before serving.",
        ),
    ] = 60.0,
    users_file: UsersFile = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            envvar="STREAMWORKS_REGISTRY_TLS_CERT",
            help="PEM certificate (chain) to serve https with.",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(envvar="STREAMWORKS_REGISTRY_TLS_KEY", help="PEM private key of --tls-cert."),
    ] = None,
) -> None:
    """Serve the Confluent-compatible schema registry API; all state is in TOPIC.

    The registry's own Kafka clients use the STREAMWORKS_* security settings (TLS, SASL),
    logging in as principal schema-registry when a SASL users file is set.
    """
    if ctx.invoked_subcommand is not None:
        return  # `registry users ...`: the group's callback serves nothing
    if (tls_cert is None) != (tls_key is None):
        console.print("[red]error:[/] --tls-cert and --tls-key go together")
        raise typer.Exit(2)
    config = RegistryConfig(
        bootstrap_servers=bootstrap,
        topic=topic,
        host=host,
        port=port,
        advertised_url=advertised_url,
        startup_timeout=startup_timeout,
        users_file=users_file,
        tls_certfile=tls_cert,
        tls_keyfile=tls_key,
    )
    asyncio.run(_serve(config))


async def _serve(config: RegistryConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    service = RegistryService(config)
    with console.status(f"reading {config.topic} from {config.bootstrap_servers}"):
        try:
            await service.start()
        except BaseException:
            await service.stop()  # the clients it made, so none is left unclosed
            raise
    access = (
        f"users from {config.users_file}" if config.users_file is not None else "open to anyone"
    )
    console.print(
        f"schema registry at [bold]{service.url}[/] (state in topic {config.topic}, {access}); "
        "Ctrl-C to stop",
        highlight=False,
    )
    try:
        await stop.wait()
    finally:
        with console.status("stopping"):
            await service.stop()


# -- the users file ---------------------------------------------------------------------------

users_app = typer.Typer(help="Keep the registry's users file (hashed passwords, roles).")
app = typer.Typer(
    help="Run a schema registry instance, or keep its users.",
    invoke_without_command=True,
)
app.callback()(registry)
app.add_typer(users_app, name="users")

_ROLES: tuple[Role, ...] = ("read-only", "read-write")


def _required(users_file: Path | None) -> Path:
    if users_file is None:
        console.print("[red]error:[/] --file (or STREAMWORKS_REGISTRY_USERS_FILE) is required")
        raise typer.Exit(2)
    return users_file


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    role: Annotated[
        str, typer.Option(help="read-only (reads) or read-write (also registers and deletes).")
    ] = "read-only",
    subjects: Annotated[
        list[str] | None,
        typer.Option(
            "--subjects",
            help="fnmatch pattern of subjects the user may see; repeat for more (default: *).",
        ),
    ] = None,
    users_file: UsersFile = None,
) -> None:
    """Add (or replace) a user; the password is read from stdin, or prompted for (hidden).

    Never pass a password as an argument: it would be in the shell history and in ps.
    """
    path = _required(users_file)
    if role not in _ROLES:
        console.print(f"[red]error:[/] --role must be one of {', '.join(_ROLES)}, not {role}")
        raise typer.Exit(2)
    password = _read_password(name)
    try:
        user = add_user(path, name, password, _role(role), subjects or ["*"])
    except UsersFileError as error:
        console.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from error
    console.print(
        f"user [bold]{user.name}[/] ({user.role}, subjects {', '.join(user.subjects)}) "
        f"written to {path}",
        highlight=False,
    )


@users_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    users_file: UsersFile = None,
) -> None:
    """Remove a user (running registries pick the change up within seconds)."""
    path = _required(users_file)
    try:
        users = load_users(path)
    except UsersFileError as error:
        console.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from error
    if users.pop(name, None) is None:
        console.print(f"[red]error:[/] {path} has no user {name}", highlight=False)
        raise typer.Exit(1)
    save_users(path, users)
    console.print(f"user [bold]{name}[/] removed from {path}", highlight=False)


def _role(text: str) -> Role:
    return "read-write" if text == "read-write" else "read-only"


def _read_password(name: str) -> str:
    """The password from a prompt on a terminal (typed twice), else stdin's first line."""
    if sys.stdin.isatty():
        password = str(
            typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
        )
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        console.print("[red]error:[/] the password is empty")
        raise typer.Exit(2)
    return password
