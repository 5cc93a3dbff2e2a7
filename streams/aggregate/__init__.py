"""Fan-in: aggregations of one or more topics into keyed, optionally windowed state."""

from streams.aggregate.aggregators import (
    Aggregator,
    Combine,
    Count,
    DistinctCount,
    Max,
    Mean,
    Min,
    Reduce,
    Sum,
    TopK,
)
from streams.aggregate.spec import Aggregation, EmitMode
from streams.aggregate.windows import Hopping, Session, Sliding, Tumbling, Window

__all__ = [
    "Aggregation",
    "Aggregator",
    "Combine",
    "Count",
    "DistinctCount",
    "EmitMode",
    "Hopping",
    "Max",
    "Mean",
    "Min",
    "Reduce",
    "Session",
    "Sliding",
    "Sum",
    "TopK",
    "Tumbling",
    "Window",
]
