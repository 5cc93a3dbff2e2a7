"""Running aggregations: the windowed fold over local state, and its worker."""

__all__: list[str] = []
