"""streamworks: stream processors on Apache Kafka, with Avro contracts and connectors.

The front door: everything a first pipeline needs, by role. The layers below
(``streamworks.core``, ``.kafka``, ``.schemas``, ``.pipeline``, ``.runtime``, ``.aggregate``,
``.connectors``, ``.registry``, ``.ops``, ``.testing``) hold the rest.
"""

from streamworks.core.errors import ConfigurationError, StageError, StreamworksError
from streamworks.core.settings import Guarantee, Settings
from streamworks.ops.running import RunningPipeline, run_pipeline
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
from streamworks.pipeline.stage import RetryPolicy, To
from streamworks.pipeline.tables import GlobalTable, OnMissing
from streamworks.pipeline.windows import Hopping, Session, Sliding, Tumbling, Window
from streamworks.schemas.catalog import use_contracts
from streamworks.schemas.derive import Precision
from streamworks.schemas.records import AvroRecord

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022 - grouped by role, not sorted
    # pipelines and stages
    "Pipeline",
    "TopicSpec",
    "To",
    "RetryPolicy",
    "GlobalTable",
    "OnMissing",
    # records and their contracts
    "AvroRecord",
    "Precision",
    "use_contracts",
    # aggregations and windows
    "Aggregation",
    "EmitMode",
    "Aggregator",
    "Count",
    "Sum",
    "Min",
    "Max",
    "Mean",
    "DistinctCount",
    "TopK",
    "Reduce",
    "Combine",
    "Window",
    "Tumbling",
    "Hopping",
    "Sliding",
    "Session",
    # scatter-gather
    "Gather",
    "Gathered",
    "Answers",
    # running
    "run_pipeline",
    "RunningPipeline",
    # settings and errors
    "Settings",
    "Guarantee",
    "StreamworksError",
    "ConfigurationError",
    "StageError",
    "PipelineError",
]
