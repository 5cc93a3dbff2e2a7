"""The pipelines that ship with streamworks; ``orders`` is the flagship."""

__all__: list[str] = []
