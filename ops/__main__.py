"""``python -m ops``: the same CLI as ``streamworks`` (used to start worker processes)."""

from ops.cli import main

main()
