"""The reference project's stream processors: the orders pipeline (``streams.orders``)."""
