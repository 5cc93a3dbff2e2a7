"""Running streamworks: the CLI and the local Kafka launcher."""

__all__: list[str] = []
