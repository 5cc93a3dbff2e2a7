"""``python -m streamworks``: the same CLI as ``streamworks`` (used to start worker processes)."""

from streamworks.ops.cli import main

main()
