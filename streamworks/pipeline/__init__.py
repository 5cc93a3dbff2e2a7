"""Declaring pipelines: topics, stages, tables, aggregations, windows and gathers.

Everything here describes what runs; the runtime and aggregate layers run it.
"""

from streamworks.pipeline.aggregation import Aggregation, EmitMode
from streamworks.pipeline.aggregators import (
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
from streamworks.pipeline.gather import Answers, Gather, Gathered
from streamworks.pipeline.graph import Pipeline, PipelineError, TopicSpec
from streamworks.pipeline.stage import RetryPolicy, Stage, To
from streamworks.pipeline.tables import GlobalTable, MissingKeyError, OnMissing
from streamworks.pipeline.windows import Hopping, Session, Sliding, Tumbling, Window

__all__ = [
    "Aggregation",
    "Aggregator",
    "Answers",
    "Combine",
    "Count",
    "DistinctCount",
    "EmitMode",
    "Gather",
    "Gathered",
    "GlobalTable",
    "Hopping",
    "Max",
    "Mean",
    "Min",
    "MissingKeyError",
    "OnMissing",
    "Pipeline",
    "PipelineError",
    "Reduce",
    "RetryPolicy",
    "Session",
    "Sliding",
    "Stage",
    "Sum",
    "To",
    "TopK",
    "TopicSpec",
    "Tumbling",
    "Window",
]
