"""WaveFlow as an operator runs it, for tests/test_production_profile.py.

A Temporal dev server started with no search attributes and set up only by the README's namespace commands, run
as written; the worker and the bridge as real processes on the namespace `waveflow` with search attributes on, a
Standard Webhooks secret, a dead-letter queue, a delete prefix and health addresses; S3 and SQS on moto with IAM
enforced, each process holding exactly its policy from deploy/iam/; a NestJS stand-in that verifies every
webhook's signature.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter

from devstack.local_aws import REGION
from devstack.nestjs_standin import NestJsStandIn, ReceivedWebhook
from devstack.processes import ROOT, TemporalDevServer, free_port, spawn, stop_process
from tests.conftest import cli_env
from tests.enforced_aws import ACCOUNT_ID, Credentials, EnforcedAws, policy
from waveflow.signing import new_secret

NAMESPACE = "waveflow"
"""The README's namespace."""
DECISION_TIMEOUT_SECONDS = 20
"""Short enough for the late-decision path, long enough for the stand-in's decisions on a loaded 2-core machine."""
WAIT = 150.0
"""Longest wait for one event: other test runs share the two cores."""
MIXING_COMPLETE = "/webhook/mixing-complete"


def readme_script(marker: str) -> str:
    """The bash block between `<!-- marker -->` and `<!-- /marker -->` in README.md, as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"<!-- {marker} -->" in readme, f"README.md has no <!-- {marker} --> block"
    block = readme.split(f"<!-- {marker} -->")[1].split(f"<!-- /{marker} -->")[0]
    [script] = re.findall(r"```bash\n(.*?)```", block, re.DOTALL)
    return script


def run_script(server: TemporalDevServer, script: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """`bash -euc script` as an operator's shell runs it: the venv's `temporal` first on PATH, this server."""
    done = subprocess.run(["bash", "-euc", script], env=cli_env(server, **variables), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def temporal(server: TemporalDevServer, *arguments: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """One `temporal` CLI command, as a subprocess."""
    return subprocess.run(["temporal", *arguments], env=cli_env(server, **variables), capture_output=True, text=True,
                          timeout=120)


def wait_until_queryable(server: TemporalDevServer, namespace: str, attribute: str, timeout: float = 60.0) -> None:
    """Until a visibility query on `attribute` is accepted in `namespace`: the observable sign that a freshly
    created namespace and its search attributes are in use."""
    deadline = time.monotonic() + timeout
    while True:
        done = temporal(server, "workflow", "list", "--namespace", namespace, "--query", f"{attribute} = 'x'")
        if done.returncode == 0:
            return
        assert time.monotonic() < deadline, f"{attribute} not queryable in {namespace}: {done.stderr}"
        time.sleep(0.2)


def log_tail(path: Path, lines: int = 40, mentioning: tuple[str, ...] = ()) -> str:
    if not path.exists():
        return f"({path.name} missing)"
    text = [line[:600] for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    relevant = [line for line in text if any(word in line for word in mentioning)] if mentioning else []
    parts = [f"--- {path.name}: lines mentioning {mentioning} ---", *relevant[-lines:]] if relevant else []
    return "\n".join([*parts, f"--- {path.name}: last {lines} lines ---", *text[-lines:]])


@dataclass
class ProductionStack:
    server: TemporalDevServer
    aws: EnforcedAws
    users: dict[str, Credentials]
    bucket: str
    queue_url: str
    dlq_url: str
    spare_queue_url: str
    """A queue of its own (and its dead-letter queue) for a bridge on a namespace that is not ready."""
    spare_dlq_url: str
    secret: str
    standin: NestJsStandIn
    work_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    """`worker` / `bridge` → its health base URL."""
    client: Client | None = None

    @property
    def temporal(self) -> Client:
        assert self.client is not None
        return self.client

    def admin(self, service: str) -> Any:
        return self.aws.client(service, self.users["admin"])

    def put(self, key: str, data: bytes) -> None:
        self.admin("s3").put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return self.admin("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def keys(self, prefix: str = "") -> set[str]:
        listing = self.admin("s3").list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return {item["Key"] for item in listing.get("Contents", [])}

    def send(self, body: dict[str, Any] | str, queue_url: str | None = None) -> None:
        self.admin("sqs").send_message(QueueUrl=queue_url or self.queue_url,
                                       MessageBody=body if isinstance(body, str) else json.dumps(body))

    def log(self, name: str) -> Path:
        return self.work_dir / f"{name}.log"

    def environment(self, name: str, user: str, **overrides: str) -> dict[str, str]:
        """What an operator sets for the worker or the bridge (README "Configuration", deploy/kubernetes)."""
        return {"TEMPORAL_ADDRESS": self.server.address, "TEMPORAL_NAMESPACE": NAMESPACE,
                "TEMPORAL_SEARCH_ATTRIBUTES": "true", "S3_BUCKET_NAME": self.bucket,
                "SQS_QUEUE_URL": self.queue_url, "SQS_DLQ_URL": self.dlq_url, "WEBHOOK_URL": self.standin.url,
                "WEBHOOK_SECRET": self.secret, "S3_DELETE_ALLOWED_PREFIXES": "uploads/",
                "DEDUPE_DECISION_TIMEOUT_SECONDS": str(DECISION_TIMEOUT_SECONDS),
                "WORKER_HOST_ID": f"{name}-host", "TEMP_DIR": str(self.work_dir / f"{name}-temp"),
                "METRICS_BIND_ADDRESS": f"127.0.0.1:{free_port()}",
                "WORKER_HEALTH_BIND_ADDRESS": f"127.0.0.1:{free_port()}",
                "BRIDGE_HEALTH_BIND_ADDRESS": f"127.0.0.1:{free_port()}",
                # Only how long a stopping bridge's last long poll lasts; moto answers a poll when a message comes.
                "SQS_WAIT_TIME_SECONDS": "2", "LOG_LEVEL": "INFO",
                **self.aws.environment(self.users[user]), **overrides}

    def start(self, name: str, script: str, user: str, **overrides: str) -> subprocess.Popen[bytes]:
        """`script` (worker.py or sqs_bridge.py) as IAM user `user`; its log is `<name>.log`."""
        env = self.environment(name, user, **overrides)
        address = env["WORKER_HEALTH_BIND_ADDRESS" if script == "worker.py" else "BRIDGE_HEALTH_BIND_ADDRESS"]
        self.health[name] = f"http://{address}"
        process = spawn(script, env, self.log(name))
        self.processes[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            stop_process(process)

    async def health_of(self, name: str, path: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.get(f"{self.health[name]}{path}")

    async def until_ready(self, name: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            process = self.processes[name]
            assert process.poll() is None, f"{name} exited with {process.returncode}\n{log_tail(self.log(name))}"
            try:
                answer = await self.health_of(name, "/readyz")
                if answer.status_code == 200:
                    return
                last = answer.text
            except httpx.HTTPError as error:
                last = repr(error)
            assert time.monotonic() < deadline, (f"{name} not ready after {timeout} s: {last}\n"
                                                 f"{log_tail(self.log(name))}")
            await asyncio.sleep(0.2)

    async def metric(self, name: str, metric: str) -> float:
        text = (await self.health_of(name, "/metrics")).text
        [value] = re.findall(rf"^{metric} (\S+)$", text, re.MULTILINE) or [None]
        assert value is not None, f"{metric} is not served by {name}"
        return float(value)

    def explain(self, *mentioning: str) -> str:
        """Every process's log lines mentioning any of `mentioning`, and its tail."""
        return "\n".join(log_tail(self.log(name), mentioning=mentioning) for name in self.health)

    # --- webhooks -------------------------------------------------------------------------------------------

    async def webhooks_for(self, path: str, field_name: str, value: str, count: int = 1,
                           timeout: float = WAIT) -> list[ReceivedWebhook]:
        """Until `count` distinct (by Idempotency-Key) accepted webhooks to `path` whose body has `field_name` ==
        `value`; ends at once if any webhook was rejected for its signature."""

        def found(received: list[ReceivedWebhook]) -> list[ReceivedWebhook] | None:
            rejected = [item for item in received if item.signature_error is not None]
            assert not rejected, (f"the stand-in rejected a webhook's signature: {rejected[0].path} "
                                  f"({rejected[0].signature_error})")
            unique: dict[str, ReceivedWebhook] = {}
            for item in received:
                if item.path == path and item.status < 300 and item.body.get(field_name) == value:
                    unique.setdefault(item.headers.get("Idempotency-Key", str(id(item))), item)
            return list(unique.values()) if len(unique) >= count else None

        # In slices, so that a cancelled wait leaves no thread behind for long (the event loop's executor waits
        # for its threads when it closes).
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await asyncio.to_thread(self.standin.wait_until, found, 1.0)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{count} webhooks to {path} with {field_name}={value}: not received after "
                                       f"{timeout} s") from None

    # --- Temporal -------------------------------------------------------------------------------------------

    async def ended(self, workflow_id: str, timeout: float = WAIT) -> WorkflowExecutionDescription:
        """The latest run of `workflow_id` once it closed; fails naming it if it is still Running."""
        handle = self.temporal.get_workflow_handle(workflow_id)
        try:
            await asyncio.wait_for(handle.result(), timeout)
        except WorkflowFailureError:
            pass
        except TimeoutError:
            status = (await handle.describe()).status
            raise AssertionError(f"{workflow_id} is still {status} after {timeout} s") from None
        return await handle.describe()

    async def runs(self, workflow_id: str, timeout: float = 30.0) -> list[WorkflowExecutionStatus | None]:
        """The status of every run visibility lists, once it lists none as running: callers ask after the last run
        closed, and visibility, unlike describe, catches up a moment later."""
        deadline = time.monotonic() + timeout
        while True:
            statuses = [item.status async for item in self.temporal.list_workflows(f"WorkflowId = '{workflow_id}'")]
            if WorkflowExecutionStatus.RUNNING not in statuses or time.monotonic() > deadline:
                return sorted(statuses, key=str)
            await asyncio.sleep(0.2)

    async def listed(self, query: str, expected: str, timeout: float = 60.0, namespace: str = NAMESPACE) -> str:
        """`temporal workflow list --namespace <ns> --query <query>` until its output names `expected`."""
        deadline = time.monotonic() + timeout
        while True:
            done = await asyncio.to_thread(temporal, self.server, "workflow", "list", "--namespace", namespace,
                                           "--query", query)
            assert done.returncode == 0, f"temporal workflow list --query {query!r}: {done.stderr}"
            if expected in done.stdout:
                return done.stdout
            assert time.monotonic() < deadline, f"{query!r} does not find {expected}:\n{done.stdout}"
            await asyncio.sleep(0.3)


def build_stack(work_dir: Path) -> ProductionStack:
    """Everything but the processes and the Temporal client: the server set up by the README, enforced AWS."""
    server = TemporalDevServer(port=free_port(), ui_port=free_port(), log_file=work_dir / "temporal.log",
                               search_attributes=False).start()
    aws: EnforcedAws | None = None
    try:
        run_script(server, readme_script("namespace-setup"))
        wait_until_queryable(server, NAMESPACE, "WaveFlowErrorCode")

        aws = EnforcedAws(work_dir / "moto.log").start()
        name = f"prod-{uuid.uuid4().hex[:8]}"
        aws.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        queues = {}
        for queue in (name, f"{name}-spare"):
            # As docker/localstack-init.sh makes them: a dead-letter queue, redrive after 5 receives.
            sqs = aws.client("sqs")
            dlq_url = sqs.create_queue(QueueName=f"{queue}-dlq")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            queue_url = sqs.create_queue(QueueName=queue, Attributes={
                "VisibilityTimeout": "60",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
            queues[queue] = (queue_url, dlq_url)

        def values(queue: str) -> dict[str, str]:
            return {"bucket": name, "region": REGION, "account-id": ACCOUNT_ID, "queue-name": queue,
                    "dlq-name": f"{queue}-dlq", "stem-prefix": "uploads/", "delete-prefix": "uploads/"}

        users = {
            "admin": aws.create_user("admin", {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            "worker": aws.create_user("worker", policy("worker-policy", values(name))),
            "bridge": aws.create_user("bridge", policy("bridge-policy", values(name))),
            "spare-bridge": aws.create_user("spare-bridge", policy("bridge-policy", values(f"{name}-spare"))),
        }
        aws.enforce()
        admin_sqs = aws.client("sqs", users["admin"])
        [queue_url, dlq_url] = queues[name]
        secret = new_secret()
        standin = NestJsStandIn(send_to_sqs=lambda body: admin_sqs.send_message(QueueUrl=queue_url, MessageBody=body),
                                webhook_secret=secret).start()
        return ProductionStack(server, aws, users, name, queue_url, dlq_url, *queues[f"{name}-spare"], secret,
                               standin, work_dir)
    except BaseException:
        if aws is not None:
            aws.stop()
        server.stop()
        raise


async def connect_client(server: TemporalDevServer, namespace: str = NAMESPACE) -> Client:
    return await Client.connect(server.address, namespace=namespace, data_converter=pydantic_data_converter)
