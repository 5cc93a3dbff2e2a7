"""Synthetic raw orders, seeded and resumable: the demo's and the benchmarks' load.

Connector files name this kind ``connectors.generator:GeneratorConfig``; importing the
package registers it, pairing the model with the source that it describes.
"""

from connectors.generator.config import GeneratorConfig
from connectors.generator.source import GeneratorSource
from streamworks.connectors.base import Kind, register_kind

__all__ = ["GENERATOR", "GeneratorConfig", "GeneratorSource"]

GENERATOR = register_kind(Kind(GeneratorConfig, GeneratorSource))
"""The generator kind: its model and its source."""
