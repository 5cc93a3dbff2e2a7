"""Which contract a topic has: a record class from the project's pipelines, if any.

A topic a pipeline declares (or implies: a stage's output, a late topic) has its record
class and format there; ``produce`` checks records against that class and ``consume`` reads
a JSON topic as JSON. A topic no pipeline knows is left to the registry's latest schema
under ``<topic>-value``.
"""

from __future__ import annotations

import logging

from streamworks.core.lineage import origins
from streamworks.ops.project import current, load_pipeline
from streamworks.ops.records.errors import RecordToolError
from streamworks.pipeline.graph import TopicSpec

__all__ = ["declared_topic"]

logger = logging.getLogger(__name__)


def declared_topic(topic: str, pipeline: str | None = None) -> TopicSpec | None:
    """``topic`` as ``pipeline`` declares it, or as the project's pipelines do; None when
    none declares it.

    Every pipeline of the project is looked at when ``pipeline`` is None: one that cannot
    be loaded is skipped with a warning, a typed declaration wins over an untyped one, and
    pipelines that give the topic different record classes or formats are an error asking
    for ``--pipeline``.
    """
    if pipeline is not None:
        return load_pipeline(pipeline).topics().get(topic)
    project = current()
    found: dict[str, TopicSpec] = {}
    for name in sorted(project.pipelines) if project is not None else []:
        try:
            spec = load_pipeline(name).topics().get(topic)
        except Exception as error:  # noqa: BLE001 - a user's pipeline code may raise anything
            logger.warning("pipeline %s skipped (it does not load): %s", name, error)
            continue
        if spec is not None:
            found[name] = spec
    typed = {name: spec for name, spec in found.items() if spec.record_type is not None}
    found = typed or found  # a pipeline that only reads a topic may leave it untyped
    kinds = {(spec.record_type, spec.format) for spec in found.values()}
    if len(kinds) > 1:
        raise RecordToolError(
            f"pipelines {', '.join(found)} declare topic {topic} differently; "
            "choose one with --pipeline",
            topic=topic,
        )
    return next(iter(found.values()), None)


def origin_names(pipeline: str | None = None) -> dict[int, tuple[str, str]]:
    """Lineage origin ids -> ``(stage, input topic)`` of ``pipeline``, or of every pipeline
    of the project that loads (:func:`streamworks.core.lineage.origins`)."""
    project = current()
    names = [pipeline] if pipeline is not None else sorted(project.pipelines) if project else []
    found: dict[int, tuple[str, str]] = {}
    for name in names:
        try:
            stages = load_pipeline(name).stages.values()
        except Exception:  # noqa: BLE001, S112 - declared_topic already warned about it
            continue
        found.update(origins((stage.name, stage.inputs) for stage in stages))
    return found
