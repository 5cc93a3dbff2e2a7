"""Synthetic raw orders, seeded and resumable: the demo's and the benchmarks' load."""

from connectors.generator.config import GeneratorConfig
from connectors.generator.source import GeneratorSource

__all__ = ["GeneratorConfig", "GeneratorSource"]
