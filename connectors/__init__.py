"""Sources and sinks that move records between other systems and Kafka topics."""

__all__: list[str] = []
