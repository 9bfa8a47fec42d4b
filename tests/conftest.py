"""Session-wide real servers (Temporal dev server, moto), and per test: a bucket, a queue, a task queue,
a temp area and a NestJS stand-in of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from activities.aws_access import make_s3_client, make_sqs_client
from devstack.local_aws import LocalAws
from devstack.nestjs_standin import NestJsStandIn, ReceivedWebhook
from devstack.processes import TemporalDevServer, free_port
from sqs_bridge import SqsBridge
from temporal_client import connect
from waveflow.settings import Settings
from worker import running_workers

STACK_FIXTURES = {"local_aws", "stack", "services", "iam_world", "embedded", "kit", "demo", "lane", "engine",
                  "chaos"}
"""Fixtures that bring up the embedded stack's outer parts (moto, WaveFlow processes, Node, a browser): a test
that uses one is in the stack tier. The Temporal dev server alone does not: workflow logic on it is fast."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stack: needs moto, WaveFlow processes, Node, a browser or a container "
                                       "engine (the fast tier, `make test-fast`, is every other test)")
    config.addinivalue_line("markers", "long: takes minutes by design (an outage, a burst, a chaos run, an image "
                                       "build); collected first")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
    # pytest-xdist hands tests out in collection order: the long ones start at once, each on a worker of its own,
    # instead of one of them starting last and running alone at the end.
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    monkeypatch = pytest.MonkeyPatch()
    log_file = tmp_path_factory.mktemp("temporal") / "server.log"
    server = TemporalDevServer(port=free_port(), ui_port=free_port(), log_file=log_file).start()
    monkeypatch.setenv("TEMPORAL_ADDRESS", server.address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    yield server
    server.stop()
    monkeypatch.undo()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    aws = LocalAws().start()
    yield aws
    aws.stop()


@pytest.fixture(scope="session")
async def client(temporal_server: TemporalDevServer) -> Client:
    return await connect()


def cli_env(server: TemporalDevServer, **variables: str) -> dict[str, str]:
    """The environment a README `temporal` command runs in: the CLI beside this interpreter, this server."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "TEMPORAL_ADDRESS": server.address, **variables}


STACK_WEBHOOK_SECRET = "whsec_" + "c3RhY2std2ViaG9vay1zZWNyZXQtMzItYnl0ZXMtbG9uZw=="
"""Signs the webhooks of worker subprocesses, as a deployment would (one without a secret logs a WARNING)."""
HASH_CHECK = "/webhook/hash-check"
COMPLETION = "/webhook/completion"


@dataclass
class Stack:
    aws: LocalAws
    settings: Settings
    standin: NestJsStandIn
    bucket: str
    queue_url: str

    def put(self, key: str, data: bytes) -> None:
        self.aws.s3().put_object(Bucket=self.bucket, Key=key, Body=data)

    def object_keys(self) -> list[str]:
        listing = self.aws.s3().list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def get(self, key: str) -> bytes:
        return self.aws.s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def send(self, body: dict[str, Any] | str) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.aws.sqs().send_message(QueueUrl=self.queue_url, MessageBody=text)

    def queue_depth(self) -> int:
        attributes = self.aws.sqs().get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def temp_files(self) -> list[Path]:
        return sorted(self.settings.temp_dir.glob("*")) if self.settings.temp_dir.exists() else []

    def env(self) -> dict[str, str]:
        """The environment a worker or bridge subprocess needs to join this stack."""
        settings = self.settings
        return {"S3_BUCKET_NAME": self.bucket, "SQS_QUEUE_URL": self.queue_url, "WEBHOOK_URL": self.standin.url,
                "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue, "WORKER_HOST_ID": settings.worker_host_id,
                "TEMP_DIR": str(settings.temp_dir), "SQS_WAIT_TIME_SECONDS": str(settings.sqs_wait_time_seconds),
                "METRICS_BIND_ADDRESS": "", "WORKER_HEALTH_BIND_ADDRESS": "", "BRIDGE_HEALTH_BIND_ADDRESS": "",
                "LOG_LEVEL": "INFO", "WEBHOOK_SECRET": STACK_WEBHOOK_SECRET}


def hash_request(stem_id: str, key: str, **extra: Any) -> dict[str, Any]:
    """What the NestJS server sends today: a task envelope."""
    kwargs = {"userId": "user-1", "trackId": "track-1", "stemId": stem_id, "filepath": key,
              "timestamp": "2024-01-01T10:00:00Z", "original_filename": Path(key).name, **extra}
    return {"task": "app.tasks.generate_hash_and_webhook", "id": f"hash-{stem_id}-1704103200000", "args": [],
            "kwargs": kwargs}


def new_stack(local_aws: LocalAws, work_dir: Path) -> Stack:
    """A bucket, a queue, a task queue, a temp area and a started NestJS stand-in of their own."""
    name = f"wf-{uuid.uuid4().hex[:12]}"
    local_aws.create_bucket(name)
    queue_url = local_aws.create_queue(name)
    sqs = local_aws.sqs()
    standin = NestJsStandIn(send_to_sqs=lambda body: sqs.send_message(QueueUrl=queue_url, MessageBody=body)).start()
    settings = Settings(s3_bucket_name=name, sqs_queue_url=queue_url, webhook_url=standin.url,
                        temporal_task_queue=f"tq-{name}", worker_host_id=f"host-{name}",
                        temp_dir=work_dir / "waveflow-temp", sqs_wait_time_seconds=1,
                        metrics_bind_address="", worker_health_bind_address="", bridge_health_bind_address="",
                        dedupe_decision_timeout_seconds=120)
    return Stack(local_aws, settings, standin, name, queue_url)


@pytest.fixture
def stack(local_aws: LocalAws, temporal_server: TemporalDevServer, tmp_path: Path) -> Iterator[Stack]:
    made = new_stack(local_aws, tmp_path)
    yield made
    made.standin.stop()


@contextlib.asynccontextmanager
async def bridge_running(client: Client, settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    bridge = SqsBridge(settings, client, make_sqs_client(settings), make_s3_client(settings))
    task = asyncio.create_task(bridge.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def services_running(client: Client, settings: Settings) -> AsyncIterator[None]:
    async with running_workers(client, settings), bridge_running(client, settings):
        yield


@pytest.fixture
async def services(client: Client, stack: Stack) -> AsyncIterator[Stack]:
    """Worker and bridge in this process, for tests that do not kill them."""
    async with services_running(client, stack.settings):
        yield stack


async def until_drained(stack: Stack, timeout: float = 60.0) -> None:
    """Waits until every message on the stack's queue was acknowledged (deletes follow hand-overs)."""
    deadline = time.monotonic() + timeout
    while stack.queue_depth() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert stack.queue_depth() == 0, "messages are left on the queue"


async def webhooks(stack: Stack, path: str, count: int = 1, timeout: float = 60.0) -> list[ReceivedWebhook]:
    """Waits, without blocking the event loop, until `count` webhooks to `path` were accepted."""
    return await asyncio.to_thread(stack.standin.wait_for, path, count, timeout)


async def distinct_webhooks(stack: Stack, path: str, count: int, timeout: float = 60.0) -> dict[str, ReceivedWebhook]:
    """Like `webhooks`, counting a delivery sent again with the same Idempotency-Key once: for tests that kill
    a worker or a server, or send a message twice, where a retried POST is expected."""
    return await asyncio.to_thread(stack.standin.wait_for_unique, path, count, timeout)
