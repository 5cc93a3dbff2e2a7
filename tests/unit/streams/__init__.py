"""Tests of the reference project's stream processors (``streams/``: the orders pipeline)."""
