"""The reference project's pipeline (``streams/``: the orders pipeline) on the real broker."""
