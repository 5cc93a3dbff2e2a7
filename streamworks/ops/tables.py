"""Tables the commands print, with no cell ever cut short.

rich shrinks a table wider than the terminal (80 columns when the output is piped) and cuts
a word too long for its column with an ellipsis. An address, a path or a topic cut that way
is useless, so the commands' tables fold such a word onto the next line instead.
"""

from __future__ import annotations

from rich.table import Table

__all__ = ["folded"]


def folded(table: Table) -> Table:
    """``table`` with every column folding a word too long for it instead of cutting it."""
    for column in table.columns:
        column.overflow = "fold"
    return table
