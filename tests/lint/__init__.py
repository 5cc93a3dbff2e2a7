"""Checks of the code's shape that run in ``make test`` (import contracts)."""
