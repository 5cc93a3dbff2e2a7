"""The faust-streaming adapter: apps on the safe producer, and a codec for typed Avro records.

Needs the ``faust`` extra: ``pip install 'streamworks[faust]'``.
"""

__all__: list[str] = []
