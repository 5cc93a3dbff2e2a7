"""Decoding a stage's inputs, each topic in its own format (Avro with the registry, or JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamworks.core.messages import InMessage
from streamworks.pipeline.stage import Stage
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.typed import Format, TypedCodec, codec_for

__all__ = ["InputDecoder"]


class InputDecoder:
    """Decodes the input messages of one stage into its input type, as each topic says.

    ``formats`` are topic formats by name (a topic not named is Avro): see
    :func:`~streamworks.runtime.topics.formats_of`.
    """

    def __init__(self, stage: Stage[Any], codec: AvroCodec, formats: Mapping[str, Format]) -> None:
        kinds = {topic: formats.get(topic, "avro") for topic in stage.inputs}
        made = {
            kind: codec_for(stage.input_type, codec, format=kind, register=False)
            for kind in set(kinds.values())
        }
        self._by_topic: dict[str, TypedCodec[AvroRecord]] = {
            topic: made[kind] for topic, kind in kinds.items()
        }
        # one codec for every input (the usual case) spares a lookup per record
        self._only = next(iter(made.values())) if len(made) == 1 else None
        avro = frozenset(topic for topic, kind in kinds.items() if kind == "avro")
        self.avro: frozenset[str] | None = None if len(avro) == len(kinds) else avro
        """The inputs whose values carry registry schema ids; None when every input does."""

    def decode(self, message: InMessage) -> AvroRecord:
        """The record in ``message``; bad bytes raise ValueDecodeError."""
        codec = self._only if self._only is not None else self._by_topic[message.topic]
        return codec.decode(
            message.value, topic=message.topic, partition=message.partition, offset=message.offset
        )
