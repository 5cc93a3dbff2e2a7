"""Running stages: the batch processor, the stage worker, dead letters, metrics and stats."""

__all__: list[str] = []
