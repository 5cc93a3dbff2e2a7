"""``streamworks demo``: run the demo the project declares (``[tool.streamworks] demo``).

A demo is the project's own code (the reference project's runs the order pipeline end to
end); the platform only finds it and hands it the rest of the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from streamworks.core.errors import ConfigurationError
from streamworks.ops.project import current, load_object

__all__ = ["demo"]


def demo(ctx: typer.Context) -> None:
    """Run the project's demo; options after ``demo`` are the demo's (``demo --help``)."""
    project = current()
    if project is None:
        raise ConfigurationError(
            "no project here (no pyproject.toml with [tool.streamworks] at or above the "
            "working directory); run streamworks demo in a project's folder"
        )
    if project.demo is None:
        raise ConfigurationError(
            "this project declares no demo; set [tool.streamworks] demo = 'module:function' "
            "in its pyproject.toml (the function is a typer command)"
        )
    function: Callable[..., Any] = load_object(project.demo, "demo")
    if not callable(function):
        raise ConfigurationError(f"demo {project.demo!r} is not a function")
    command = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    command.command()(function)
    typer.main.get_command(command)(args=ctx.args, prog_name="streamworks demo")


DEMO_SETTINGS: dict[str, Any] = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}
"""Click settings of the ``demo`` command: every argument, ``--help`` too, goes to the demo."""
