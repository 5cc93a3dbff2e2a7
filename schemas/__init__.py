"""The reference project's Avro contracts (``contracts/*.avsc``) and record classes.

Importing this package makes the contracts known to streamworks, so the record classes in
``schemas.records`` encode and decode wherever they are used.
"""

from pathlib import Path

from streamworks import use_contracts

CONTRACTS = Path(__file__).with_name("contracts")
"""The folder of the project's ``.avsc`` contracts."""

use_contracts(CONTRACTS)

__all__ = ["CONTRACTS"]
