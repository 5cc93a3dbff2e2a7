"""The stream-processing runtime: settings, safe Kafka clients and the test kit."""

from streams.errors import ConfigurationError, StreamworksError
from streams.settings import Guarantee, Settings

__all__ = ["ConfigurationError", "Guarantee", "Settings", "StreamworksError"]
