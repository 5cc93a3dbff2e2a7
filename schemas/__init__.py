"""Avro contracts, the codec and the schema registry; also home of the error root."""

from schemas.errors import StreamworksError

__all__ = ["StreamworksError"]
