"""Errors of the local Kafka launcher."""

from __future__ import annotations

from streamworks.core.errors import StreamworksError

__all__ = [
    "BrokerDiedError",
    "BrokerNotReadyError",
    "ClusterShapeError",
    "JarFetchError",
    "KafkaLauncherError",
    "PortInUseError",
    "ScramUserError",
    "ToolMissingError",
]


class KafkaLauncherError(StreamworksError):
    """The local Kafka broker could not be fetched, started or stopped."""


class ToolMissingError(KafkaLauncherError):
    """A program the launcher needs (java, mvn) is not on PATH."""

    def __init__(self, tool: str, hint: str) -> None:
        super().__init__(f"`{tool}` was not found on PATH; {hint}")
        self.tool = tool


class JarFetchError(KafkaLauncherError):
    """Maven could not fetch the pinned Kafka jars."""

    retriable = True


class PortInUseError(KafkaLauncherError):
    """A port the broker needs is already taken by another process."""

    def __init__(self, port: int) -> None:
        super().__init__(
            f"port {port} on 127.0.0.1 is already in use; stop what holds it or choose "
            "another base port with --port"
        )
        self.port = port


class BrokerDiedError(KafkaLauncherError):
    """A broker process exited while starting; the message ends with its last log lines."""

    def __init__(self, node_id: int, exit_code: int | None, log_tail: str) -> None:
        super().__init__(
            f"Kafka node {node_id} exited with code {exit_code} while starting; "
            f"last lines of its log:\n{log_tail}"
        )
        self.node_id = node_id
        self.exit_code = exit_code


class BrokerNotReadyError(KafkaLauncherError):
    """The brokers started but did not answer a metadata request before the deadline."""

    retriable = True


class ClusterShapeError(KafkaLauncherError):
    """A cluster directory's formatted storage was made for other ports or another node count
    than asked for; resuming it as asked would not work, and formatting it would lose data."""

    def __init__(self, directory: str, stored: str, asked: str) -> None:
        super().__init__(
            f"the local Kafka cluster in {directory} has {stored}, not {asked}; "
            f"`streamworks kafka up --dir {directory}` without --port/--nodes/--secure resumes "
            "it as it is, and `--fresh` deletes its data and formats it anew"
        )
        self.directory = directory
        self.stored = stored
        self.asked = asked


class ScramUserError(KafkaLauncherError):
    """Kafka did not create or update a SCRAM user (or could not be asked to)."""

    def __init__(
        self, user: str | None, mechanism: str, reason: str, retriable: bool = False
    ) -> None:
        whom = f"user {user}" if user else "users"
        super().__init__(f"could not set {mechanism} credentials of {whom}: {reason}")
        self.user = user
        self.mechanism = mechanism
        self.retriable = retriable
