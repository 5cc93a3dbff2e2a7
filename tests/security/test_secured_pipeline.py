"""The flagship on a secured cluster, the way production runs it.

SASL_SSL only; every stage and connector logs in as its own SCRAM principal, with exactly
the ACLs ``streamworks acl apply`` derives; the schema registry asks for a login. The
flagship then carries every order to PostgreSQL, while a stage reaching for a topic or a
group it does not own, a wrong password and an untrusted certificate each stop with one
line naming what was refused, and no password shows in any log.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from pydantic import SecretStr

from connectors.generator.config import GeneratorConfig
from schemas.records import InvalidOrder, ValidOrder
from streams.orders.pipeline import orders_pipeline
from streamworks.connectors import ConnectWorker
from streamworks.connectors.postgres.config import PostgresSinkConfig
from streamworks.core.errors import AuthorizationError
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.security import explain
from streamworks.ops.acl import apply_plan, create_topics, plan, principals
from streamworks.ops.runner import worker_for
from streamworks.pipeline.graph import Pipeline
from streamworks.registry.users import add_user
from streamworks.runtime.topics import register_contracts
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import RegistryAuthenticationError, RegistryAuthorizationError
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import consume_until, produce, unique_name, wait_for
from streamworks.testing.registry import RegistryThread
from tests.integration.connectors.pg import PostgresServer, fetch_rows, postgres  # noqa: F401
from tests.security.conftest import SecureKafka

pytestmark = pytest.mark.security

ORDERS = 300
WRITER, READER = "pipeline-writer", "dashboard-reader"


@dataclass(frozen=True)
class Secured:
    """One secured copy of the flagship: its principals hold exactly the planned ACLs."""

    prefix: str
    pipeline: Pipeline
    generator: GeneratorConfig
    sink: PostgresSinkConfig
    base: Settings
    """Settings every stage and connector starts from: SASL_SSL, the users file, the
    registry's writer login. Each logs in as its own principal (``as_principal``)."""
    registry_url: str
    registry_passwords: dict[str, str]
    kafka: SecureKafka


@pytest_asyncio.fixture(scope="module")
async def secured(
    secure_kafka: SecureKafka,
    postgres: PostgresServer,  # noqa: F811 - the fixture imported above
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Secured]:
    prefix = unique_name("sec").replace("-", "_")
    pipeline = orders_pipeline(prefix=prefix, name=prefix, guarantee="exactly-once")
    generator = GeneratorConfig(
        name=f"{prefix}-gen",
        topic=f"{prefix}.raw",
        count=ORDERS,
        unparseable=0.0,  # every order then ends valid or invalid: nothing to account for
        guarantee="exactly-once",
    )
    sink = PostgresSinkConfig(
        name=f"{prefix}-pg",
        topics=[f"{prefix}.enriched"],
        url=SecretStr(postgres.url),
        table=f"public.{unique_name('secured').replace('-', '_')}",
        key=["order_id"],
    )
    registry_topic = unique_name("_schemas")
    bindings = plan(pipeline, [generator, sink], registry_topic=registry_topic)
    await secure_kafka.add_users(*principals(bindings), "intruder")
    await create_topics(
        secure_kafka.admin, pipeline, [generator, sink], registry_topic=registry_topic
    )
    await apply_plan(secure_kafka.admin, bindings, prune=True)

    users_file = tmp_path_factory.mktemp("registry") / "users.json"
    passwords = {WRITER: os.urandom(12).hex(), READER: os.urandom(12).hex()}
    add_user(users_file, WRITER, passwords[WRITER], "read-write", [f"{prefix}.*"])
    add_user(users_file, READER, passwords[READER], "read-only", [f"{prefix}.*"])
    # on its own thread and loop: the workers' registry clients are synchronous
    registry = RegistryThread(
        secure_kafka.bootstrap_servers,
        topic=registry_topic,
        settings=secure_kafka.settings_for("schema-registry"),
        users_file=users_file,
    ).start()
    try:
        base = secure_kafka.settings_for(
            "admin",
            sasl_users_file=secure_kafka.users_file,
            registry_url=registry.url,
            registry_username=WRITER,
            registry_password=passwords[WRITER],
            guarantee="exactly-once",
        )
        register_contracts(pipeline, RegistryClient.from_settings(base))  # as `run` does
        yield Secured(
            prefix, pipeline, generator, sink, base, registry.url, passwords, secure_kafka
        )
    finally:
        registry.stop()


def _secrets(secured: Secured) -> list[str]:
    return [*secured.kafka.cluster.users().values(), *secured.registry_passwords.values()]


def _worker_command(
    secured: Secured, pipeline: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``streamworks worker`` as a process, with the secured copy's settings in its environment."""
    base = secured.base
    variables = {
        **os.environ,
        "STREAMWORKS_BOOTSTRAP_SERVERS": base.bootstrap_servers,
        "STREAMWORKS_SECURITY_PROTOCOL": "SASL_SSL",
        "STREAMWORKS_SSL_CAFILE": str(secured.kafka.cafile),
        "STREAMWORKS_SASL_MECHANISM": "SCRAM-SHA-512",
        "STREAMWORKS_SASL_USERS_FILE": str(secured.kafka.users_file),
        "STREAMWORKS_REGISTRY_URL": secured.registry_url,
        "STREAMWORKS_REGISTRY_USERNAME": WRITER,
        "STREAMWORKS_REGISTRY_PASSWORD": secured.registry_passwords[WRITER],
        "STREAMWORKS_ROGUE_PREFIX": secured.prefix,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "streamworks", "worker", pipeline, "--stage", "clean"],
        env=variables,
        capture_output=True,
        text=True,
        timeout=60,  # a refusal must end the process, not start a retry loop
        check=False,
    )


async def test_the_flagship_carries_every_order_to_postgres_with_least_privilege(
    secured: Secured, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pipeline, base, admin = secured.pipeline, secured.base, secured.kafka.admin
    codec = AvroCodec(RegistryClient.from_settings(base))
    pool = [
        worker_for(pipeline, stage, base.as_principal(pipeline.group_id(stage)), codec)
        for stage in pipeline.stages
    ]
    connect = ConnectWorker([secured.generator, secured.sink], base)
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(w.run()) for w in pool]
    tasks.append(asyncio.create_task(connect.run()))
    prefix = secured.prefix
    try:
        routed = await consume_until(
            "",
            [f"{prefix}.valid", f"{prefix}.invalid"],
            count=ORDERS,
            timeout=150,
            settings=admin,
        )
        valid = [r for r in routed if r.topic == f"{prefix}.valid"]

        async def all_valid_rows() -> bool:
            for task in tasks:  # a worker that died would leave the wait to time out
                if task.done():
                    task.result()
            rows = await fetch_rows(secured.sink.url.get_secret_value(), secured.sink.table)
            return len(rows) >= len(valid)

        await wait_for(all_valid_rows, timeout=120, what="every valid order in PostgreSQL")
    finally:
        connect.drain()
        for worker in pool:
            worker.stop()
        await asyncio.gather(*tasks)

    reader = AvroCodec(RegistryClient.from_settings(base))
    as_valid = RecordCodec(ValidOrder, reader, register=False)
    as_invalid = RecordCodec(InvalidOrder, reader, register=False)
    valid_ids = [str(as_valid.decode(r.value).order_id) for r in valid]
    ids = Counter(valid_ids)
    ids.update(str(as_invalid.decode(r.value).order.order_id) for r in routed if r not in valid)
    assert len(ids) == ORDERS, "every order is valid or invalid"
    assert max(ids.values()) == 1, "exactly once: no order twice"
    rows = await fetch_rows(secured.sink.url.get_secret_value(), secured.sink.table)
    assert sorted(str(row["order_id"]) for row in rows) == sorted(valid_ids)
    leaked = [s for s in _secrets(secured) if s in caplog.text]
    assert not leaked, "a password was logged"


async def test_a_stage_writing_a_topic_it_does_not_own_is_refused(secured: Secured) -> None:
    done = await asyncio.to_thread(_worker_command, secured, "tests.security.rogue:build")
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert lines, done.stderr
    assert f"User:{secured.prefix}.clean may not" in lines[0]
    assert f"topic {secured.prefix}.enriched" in lines[0]
    assert "Traceback" not in done.stderr
    assert not [s for s in _secrets(secured) if s in done.stderr + done.stdout]


async def test_a_stage_writing_through_its_own_producer_is_refused_by_name(
    secured: Secured,
) -> None:
    clean = secured.base.as_principal(f"{secured.prefix}.clean")
    with pytest.raises(TopicAuthorizationFailedError) as refused:
        await produce("", f"{secured.prefix}.enriched", [(b"k", b"v")], settings=clean)
    typed = explain(refused.value, clean)
    assert isinstance(typed, AuthorizationError)
    assert (typed.principal, typed.operation, typed.resource) == (
        f"User:{secured.prefix}.clean",
        "WRITE",
        f"topic {secured.prefix}.enriched",
    )


async def test_a_consumer_in_another_stages_group_is_refused(secured: Secured) -> None:
    clean = secured.base.as_principal(f"{secured.prefix}.clean")
    consumer = clients.consumer(
        f"{secured.prefix}.raw", settings=clean, group_id=f"{secured.prefix}.format"
    )
    try:
        # refused when it joins: in start() or in the first fetches, as the timing falls
        with pytest.raises(GroupAuthorizationFailedError) as refused:
            async with asyncio.timeout(30):
                await consumer.start()
                while True:
                    await consumer.getmany(timeout_ms=500)
    finally:
        await consumer.stop()
    typed = explain(refused.value, clean)
    assert isinstance(typed, AuthorizationError)
    assert str(typed).startswith(
        f"User:{secured.prefix}.clean may not READ consumer group {secured.prefix}.format"
    )


async def test_a_wrong_password_stops_the_worker_with_one_line(
    secured: Secured, tmp_path: Path
) -> None:
    wrong = tmp_path / "users.json"
    wrong.write_text(f'{{"{secured.prefix}.clean": "not-the-password"}}')
    done = await asyncio.to_thread(
        _worker_command,
        secured,
        "orders",
        STREAMWORKS_SASL_USERS_FILE=str(wrong),
        STREAMWORKS_ORDERS_PREFIX=secured.prefix,
    )
    assert done.returncode == 1, done.stderr
    assert f"refused the SCRAM-SHA-512 login of User:{secured.prefix}.clean" in done.stderr
    assert "Traceback" not in done.stderr
    assert "not-the-password" not in done.stderr + done.stdout


async def test_an_untrusted_certificate_stops_the_worker_with_one_line(
    secured: Secured, tmp_path: Path
) -> None:
    from streamworks.ops.kafka.tls import CertificateAuthority  # noqa: PLC0415

    other = CertificateAuthority.create(tmp_path, "not the cluster's CA")
    done = await asyncio.to_thread(
        _worker_command,
        secured,
        "orders",
        STREAMWORKS_SSL_CAFILE=str(other.certfile),
        STREAMWORKS_ORDERS_PREFIX=secured.prefix,
    )
    assert done.returncode == 1, done.stderr
    assert "certificate is not trusted" in done.stderr
    assert "Traceback" not in done.stderr


async def test_an_expired_client_certificate_stops_the_worker_with_one_line(
    secured: Secured, tmp_path: Path
) -> None:
    from streamworks.ops.kafka.tls import CertificateAuthority  # noqa: PLC0415

    cluster_ca = CertificateAuthority(
        certfile=secured.kafka.cafile, keyfile=secured.kafka.cafile.with_name("ca.key")
    )
    ended = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    expired = cluster_ca.issue(
        tmp_path, "clean", hosts=(), client=True, valid_from=ended - datetime.timedelta(days=30)
    )
    done = await asyncio.to_thread(
        _worker_command,
        secured,
        "orders",
        STREAMWORKS_SSL_CERTFILE=str(expired.certfile),
        STREAMWORKS_SSL_KEYFILE=str(expired.keyfile),
        STREAMWORKS_ORDERS_PREFIX=secured.prefix,
    )
    assert done.returncode == 1, done.stderr
    assert f"the client certificate in {expired.certfile} expired on {ended:%Y-%m-%d}" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


async def test_the_registry_refuses_anonymous_callers_and_read_only_writes(
    secured: Secured,
) -> None:
    subject = f"{secured.prefix}.raw-value"
    schema = RegistryClient.from_settings(secured.base).latest(subject).schema
    with pytest.raises(RegistryAuthenticationError):
        RegistryClient(secured.registry_url).latest(subject)
    reader = RegistryClient(
        secured.registry_url, username=READER, password=secured.registry_passwords[READER]
    )
    assert reader.latest(subject).schema == schema
    with pytest.raises(RegistryAuthorizationError):
        reader.register(f"{secured.prefix}.extra-value", schema)
    guess = "not-" + secured.registry_passwords[READER]
    with pytest.raises(RegistryAuthenticationError) as wrong:
        RegistryClient(secured.registry_url, username=READER, password=guess).latest(subject)
    assert guess not in str(wrong.value)


def test_the_broker_log_holds_no_password(secured: Secured) -> None:
    logs = "".join(
        path.read_text(errors="replace") for path in secured.kafka.directory.rglob("*.log")
    )
    assert logs, "the broker wrote its log"
    assert not [s for s in _secrets(secured) if s in logs]
