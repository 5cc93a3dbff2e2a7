"""Records by hand: ``streamworks produce`` checks JSON records against a topic's contract
and produces them; ``streamworks consume`` prints a topic's records decoded, as JSON lines."""

from streamworks.ops.records.commands import consume, produce
from streamworks.ops.records.consume import Start, consume_records, parse_start
from streamworks.ops.records.contracts import declared_topic
from streamworks.ops.records.encoding import ValueEncoder, encoder_for
from streamworks.ops.records.errors import RecordInputError, RecordToolError
from streamworks.ops.records.input import InputRecord, Reject, key_of, read_records
from streamworks.ops.records.produce import ProduceReport, produce_records
from streamworks.ops.records.render import RecordRenderer, headers_document, shown_bytes

__all__ = [
    "InputRecord",
    "ProduceReport",
    "RecordInputError",
    "RecordRenderer",
    "RecordToolError",
    "Reject",
    "Start",
    "ValueEncoder",
    "consume",
    "consume_records",
    "declared_topic",
    "encoder_for",
    "headers_document",
    "key_of",
    "parse_start",
    "produce",
    "produce_records",
    "read_records",
    "shown_bytes",
]
