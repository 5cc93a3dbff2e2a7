"""``streamworks init``: new projects from the template in ``template/``."""

from __future__ import annotations

from streamworks.ops.init.commands import init
from streamworks.ops.init.create import create_project, install_source, project_name

__all__ = ["create_project", "init", "install_source", "project_name"]
