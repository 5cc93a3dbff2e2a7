"""An import contract: a private module is imported only from inside its own package.

A module whose name starts with an underscore (``streamworks.kafka._murmur2``) is an
internal of its package; another package that needs it needs a public name instead.
Registered in ``[tool.importlinter]`` as the ``private`` contract type.
"""

from __future__ import annotations

from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain.imports import Module

__all__ = ["PrivateModulesContract"]


class PrivateModulesContract(Contract):
    """No module outside a private module's parent package imports it."""

    type_name = "private"
    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose):  # type: ignore[no-untyped-def]  # import-linter's API
        """Every import of a ``_private`` module comes from within its parent package."""
        breaches: list[tuple[str, str, int | None]] = []
        for container in self.containers:  # type: ignore[attr-defined]
            for module in sorted(graph.find_descendants(container)):
                name = module.rpartition(".")[2]
                if not name.startswith("_") or name.startswith("__"):
                    continue
                parent = Module(module).parent.name
                for importer in sorted(graph.find_modules_that_directly_import(module)):
                    if importer == parent or importer.startswith(parent + "."):
                        continue
                    details = graph.get_import_details(importer=importer, imported=module)
                    line = details[0]["line_number"] if details else None
                    breaches.append((importer, module, line))
        return ContractCheck(kept=not breaches, metadata={"breaches": breaches})

    def render_broken_contract(self, check):  # type: ignore[no-untyped-def]  # import-linter's API
        """One line per import of another package's private module."""
        for importer, module, line in check.metadata["breaches"]:
            output.print_error(f"{importer} imports {module} (l.{line}), private to its package")
