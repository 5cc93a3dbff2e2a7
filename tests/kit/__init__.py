"""The framework tests' own small records and pipelines, built as a user's project builds them.

Only public names of ``streamworks`` are used here. Importing this package makes the kit's
contracts (``contracts/*.avsc``) known, so the record classes of ``tests.kit.records``
encode and decode wherever a test uses them; the reference project's contracts stay out
of the framework tests.
"""

from pathlib import Path

from streamworks import use_contracts

CONTRACTS = Path(__file__).with_name("contracts")
"""The folder of the kit's ``.avsc`` contracts."""

use_contracts(CONTRACTS)

__all__ = ["CONTRACTS"]
