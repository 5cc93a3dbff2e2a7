"""The desired state: a pipeline's declared topics with the topics file laid over them."""

from __future__ import annotations

from pathlib import Path

from streamworks.ops.topics.errors import TopicsFileError
from streamworks.ops.topics.file import TopicEntry, TopicsFile
from streamworks.ops.topics.model import DesiredTopic
from streamworks.pipeline.graph import Pipeline

__all__ = ["desired_topics"]


def desired_topics(
    pipeline: Pipeline, file: TopicsFile, *, path: Path | str = "the topics file"
) -> dict[str, DesiredTopic]:
    """The pipeline's topics, then the file's ``shared`` and ``pipelines.<name>`` entries.

    An entry for a pipeline topic overrides its replication and adds to its configs (the
    file's value wins); its partition count stays the pipeline's, because stage workers,
    aggregation tasks and changelogs are sized from it (``streamworks run`` checks it). An
    entry for another topic is an extra topic and must give its partitions. ``path`` only
    names the file in errors.
    """
    found = {
        name: DesiredTopic(name, spec.partitions, spec.replication, dict(spec.config))
        for name, spec in pipeline.topics().items()
    }
    sections = [
        ("shared", file.shared),
        (f"pipelines.{pipeline.name}", file.pipelines.get(pipeline.name, {})),
    ]
    for section, entries in sections:
        for name, entry in entries.items():
            found[name] = _merge(found.get(name), name, entry, f"{path}: {section}.{name}")
    return found


def _merge(base: DesiredTopic | None, name: str, entry: TopicEntry, where: str) -> DesiredTopic:
    if base is None:
        if entry.partitions is None:
            raise TopicsFileError(
                f"{where}.partitions: {name} is not a topic of the pipeline, so the file "
                "must give its partitions",
                path=where.split(": ", 1)[0],
            )
        return DesiredTopic(
            name, entry.partitions, entry.replication, dict(entry.config), source="file"
        )
    if (
        entry.partitions is not None
        and entry.partitions != base.partitions
        and base.source != "file"
    ):
        raise TopicsFileError(
            f"{where}.partitions: {name} belongs to the pipeline, which declares "
            f"{base.partitions} partitions; change the count in the pipeline (its workers, "
            "aggregation tasks and changelogs are sized from it), not in the topics file",
            path=where.split(": ", 1)[0],
        )
    return DesiredTopic(
        name,
        entry.partitions or base.partitions,
        entry.replication or base.replication,
        {**base.config, **entry.config},
        source="file" if base.source == "file" else "pipeline+file",
    )
