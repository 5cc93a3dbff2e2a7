"""An import contract: a connector kind's ``config`` module is the bottom of its package.

The model describes, the connector implements: ``files/source.py`` imports
``files/config.py``, never the reverse, and a ``Kind`` pairs the two one level up. A config
module that reaches any other module of its own package (directly, through another module,
inside a function or behind ``if TYPE_CHECKING:``) breaks the contract. Registered in
``[tool.importlinter]`` as the ``kind_configs`` contract type.
"""

from __future__ import annotations

from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain.imports import Module

__all__ = ["KindConfigsContract"]


class KindConfigsContract(Contract):
    """No ``<package>.config`` module under the containers imports its package's other modules."""

    type_name = "kind_configs"
    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose):  # type: ignore[no-untyped-def]  # import-linter's API
        """Every ``config`` module's imports, followed to the end, stay outside its package."""
        breaches: list[tuple[str, ...]] = []
        for container in self.containers:  # type: ignore[attr-defined]
            for module in sorted(graph.find_descendants(container)):
                if module.rpartition(".")[2] != "config":
                    continue
                inside = Module(module).parent.name + "."
                entries: set[tuple[str, ...]] = set()
                for reached in graph.find_upstream_modules(module):
                    if not reached.startswith(inside):
                        continue
                    chain = graph.find_shortest_chain(importer=module, imported=reached)
                    # cut at the first module of the package: one line per way in
                    end = next(i for i, m in enumerate(chain) if i and m.startswith(inside))
                    entries.add(tuple(chain[: end + 1]))
                breaches.extend(sorted(entries))
        return ContractCheck(kept=not breaches, metadata={"breaches": breaches})

    def render_broken_contract(self, check):  # type: ignore[no-untyped-def]  # import-linter's API
        """One line per way a config reaches into its package, with the chain of imports."""
        for chain in check.metadata["breaches"]:
            output.print_error(
                f"{chain[0]} imports {chain[-1]} ({' -> '.join(chain)}); the connector "
                "imports its config, not the reverse: pair them with a Kind in the package"
            )
