"""Hostile or broken input: guarded deletes (folders, a replaced object), hostile messages, no secret anywhere."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToJson
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.s3 import S3Activities
from devstack.processes import spawn, stop_process
from devstack.seaweedfs import SeaweedS3
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, hash_request, services_running, webhooks
from waveflow.contract import DedupeDecision, HashRequest
from waveflow.deletion import check_duplicate_delete
from waveflow.errors import DeleteRefusedError
from waveflow.models import DeleteRequest, StemIngestInput, StemPolicy
from waveflow.tempfiles import TempArea
from worker import running_workers
from workflows.stem_ingest import StemIngestWorkflow

ORIGINAL = "uploads/user-1/keep-me.wav"


async def decide_by_hand(stack: Stack, client: Client, stem_id: str, decision_for: str,
                         allowed_prefixes: tuple[str, ...] = ()) -> dict[str, object]:
    """Start a stem, wait for its hash-check, send the given duplicate decision, return the completion."""
    settings = stack.settings.model_copy(update={"s3_delete_allowed_prefixes": allowed_prefixes})
    stack.standin.behaviour.send_decisions = False
    async with services_running(client, settings):
        stack.send(hash_request(stem_id, ORIGINAL))
        [hash_check] = await webhooks(stack, HASH_CHECK)
        audio_hash = hash_check.body["audio_hash"]
        decision = {
            "other_key": DedupeDecision(duplicate=True, filepath="uploads/user-2/someone-else.wav",
                                        audio_hash=audio_hash),
            "wrong_hash": DedupeDecision(duplicate=True, filepath=ORIGINAL, audio_hash="0" * 64),
            "no_hash": DedupeDecision(duplicate=True, filepath=ORIGINAL),
            "right": DedupeDecision(duplicate=True, filepath=ORIGINAL, audio_hash=audio_hash),
        }[decision_for]
        await client.get_workflow_handle_for(StemIngestWorkflow.run, f"stem-{stem_id}").signal(
            StemIngestWorkflow.decide, decision)
        [completion] = await webhooks(stack, COMPLETION)
    return completion.body


@pytest.mark.parametrize(("case", "reason"), [
    ("other_key", "the decision names 'uploads/user-2/someone-else.wav' but this stem's object is"),
    ("wrong_hash", "differs from the hash WaveFlow computed"),
    ("no_hash", "the decision's audio_hash None differs"),
])
async def test_delete_refused_unless_it_is_the_stems_own_object_with_its_hash(
        stack: Stack, client: Client, case: str, reason: str) -> None:
    stack.put(ORIGINAL, encode(sine(0.3)))
    stack.put("uploads/user-2/someone-else.wav", encode(sine(0.3)))
    body = await decide_by_hand(stack, client, f"refuse-{case.replace('_', '-')}", case)
    assert body["status"] == "FAILURE" and body["result"]["error_code"] == "delete_refused"
    assert reason in body["result"]["error"]
    assert ORIGINAL in stack.object_keys() and "uploads/user-2/someone-else.wav" in stack.object_keys()


async def test_delete_refused_outside_the_allowed_prefixes(stack: Stack, client: Client) -> None:
    stack.put(ORIGINAL, encode(sine(0.3)))
    body = await decide_by_hand(stack, client, "refuse-prefix", "right", allowed_prefixes=("stems/", "tmp/"))
    assert body["result"]["error_code"] == "delete_refused"
    assert "outside the allowed prefixes stems/, tmp/" in body["result"]["error"]
    assert ORIGINAL in stack.object_keys()


async def test_worker_prefixes_hold_whatever_the_workflow_input_says(stack: Stack, client: Client) -> None:
    """Anyone able to start a workflow writes its input: the worker's own setting is what guards the delete."""
    stack.put(ORIGINAL, encode(sine(0.3)))
    worker_settings = stack.settings.model_copy(update={"s3_delete_allowed_prefixes": ("stems/",)})
    stack.standin.behaviour.send_decisions = False
    async with running_workers(client, worker_settings):
        handle = await client.start_workflow(
            StemIngestWorkflow.run, StemIngestInput(request=HashRequest(stemId="widened", filepath=ORIGINAL),
                                                    policy=StemPolicy(delete_allowed_prefixes=("uploads/",))),
            id="stem-widened", task_queue=worker_settings.temporal_task_queue)
        [hash_check] = await webhooks(stack, HASH_CHECK)
        await handle.signal(StemIngestWorkflow.decide, DedupeDecision(
            duplicate=True, filepath=ORIGINAL, audio_hash=hash_check.body["audio_hash"]))
        [completion] = await webhooks(stack, COMPLETION)
    assert completion.body["result"]["error_code"] == "delete_refused"
    assert "outside the allowed prefixes stems/" in completion.body["result"]["error"]
    assert ORIGINAL in stack.object_keys()


async def test_delete_refused_when_the_object_changed_after_hashing(stack: Stack, client: Client) -> None:
    stack.put(ORIGINAL, encode(sine(0.3)))
    stack.standin.behaviour.send_decisions = False
    async with services_running(client, stack.settings):
        stack.send(hash_request("replaced", ORIGINAL))
        [hash_check] = await webhooks(stack, HASH_CHECK)
        replacement = encode(sine(0.3, frequency=880.0))
        stack.put(ORIGINAL, replacement)
        await client.get_workflow_handle_for(StemIngestWorkflow.run, "stem-replaced").signal(
            StemIngestWorkflow.decide,
            DedupeDecision(duplicate=True, filepath=ORIGINAL, audio_hash=hash_check.body["audio_hash"]))
        [completion] = await webhooks(stack, COMPLETION)
    assert completion.body["result"]["error_code"] == "delete_refused"
    assert "changed since WaveFlow hashed it" in completion.body["result"]["error"]
    assert stack.get(ORIGINAL) == replacement


async def test_delete_allowed_under_an_allowed_prefix(stack: Stack, client: Client) -> None:
    audio = encode(sine(0.3))
    stack.put(ORIGINAL, audio)
    body = await decide_by_hand(stack, client, "allowed", "right", allowed_prefixes=("uploads/",))
    assert body["status"] == "SUCCESS"
    assert body["result"] == {"status": "duplicate_file_deleted", "audio_hash": hashlib.sha256(audio).hexdigest(),
                              "filepath": ORIGINAL}
    assert ORIGINAL not in stack.object_keys()


HOSTILE = [
    {"stemId": "evil-1", "filepath": "../../../etc/passwd"},
    {"stemId": "evil-2", "filepath": "/etc/passwd"},
    {"stemId": "evil-3", "filepath": "uploads/\x00.wav"},
    {"stemId": "evil-4", "filepath": "http://169.254.169.254/latest/meta-data/"},
    {"stemId": "evil-5", "filepath": "a" * 2000},
    {"stemId": "../../tmp/evil", "filepath": "uploads/a.wav"},
    {"stemId": "evil 7", "filepath": "uploads/a.wav"},
    {"stemId": ["evil"], "filepath": "uploads/a.wav"},
]


async def test_hostile_messages_start_nothing_and_touch_nothing(stack: Stack, client: Client, tmp_path: Path) -> None:
    dlq_url = stack.aws.create_queue(f"{stack.bucket}-dlq")
    settings = stack.settings.model_copy(update={"sqs_dlq_url": dlq_url})
    for kwargs in HOSTILE:
        stack.send({"task": "app.tasks.generate_hash_and_webhook", "id": "x", "args": [], "kwargs": kwargs})
    stack.send({"task": "app.tasks.process_audio_analysis", "kwargs": {"stemId": "evil-9", "filepath": "a.wav",
                                                                       "num_peaks": 10**9}})
    async with services_running(client, settings):
        for _ in range(100):
            if stack.queue_depth() == 0:
                break
            await asyncio.sleep(0.2)
    assert stack.queue_depth() == 0
    dead = stack.aws.sqs().get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(dead["Attributes"]["ApproximateNumberOfMessages"]) == len(HOSTILE) + 1
    started = [item async for item in client.list_workflows(f"TaskQueue = '{settings.temporal_task_queue}'")]
    assert started == []
    assert stack.standin.received == []
    assert stack.temp_files() == []


async def test_no_secret_in_logs_webhooks_or_histories(stack: Stack, client: Client, tmp_path: Path) -> None:
    webhook_secret = "whsec_NWQ0MTQwMmFiYzRiMmE3NmI5NzE5ZDkxMTAxN2M1OTI="
    aws_secret = "aws-secret-7f3c9b1e0d2a4c6e8f"
    url_password = "url-pass-9c8b7a6f"
    webhook_url = stack.standin.url.replace("http://", f"http://nestjs:{url_password}@")
    env = {**stack.env(), "WEBHOOK_SECRET": webhook_secret, "AWS_SECRET_ACCESS_KEY": aws_secret,
           "WEBHOOK_URL": webhook_url, "LOG_LEVEL": "DEBUG"}
    stack.put("uploads/secret-1.wav", encode(sine(0.3)))
    stack.put("uploads/secret-2.wav", b"not audio at all")
    worker = spawn("worker.py", env, tmp_path / "worker.log")
    bridge = spawn("sqs_bridge.py", env, tmp_path / "bridge.log")
    try:
        stack.send(hash_request("secret-1", "uploads/secret-1.wav"))
        stack.send(hash_request("secret-2", "uploads/secret-2.wav"))
        stack.send("poison: not a message")
        await webhooks(stack, COMPLETION, 2)
        await client.get_workflow_handle("stem-secret-1").result()
        with pytest.raises(WorkflowFailureError):
            await client.get_workflow_handle("stem-secret-2").result()
    finally:
        stop_process(bridge)
        stop_process(worker)
    haystacks = {name: (tmp_path / f"{name.split()[0]}.log").read_text() for name in ("worker log", "bridge log")}
    for index, item in enumerate(stack.standin.received):
        haystacks[f"webhook {index}"] = item.raw_body.decode() + json.dumps(
            {key: value for key, value in item.headers.items() if key.lower() != "authorization"})
    for stem_id in ("secret-1", "secret-2"):
        events = [event async for event in client.get_workflow_handle(f"stem-{stem_id}").fetch_history_events()]
        haystacks[f"history {stem_id}"] = "".join(MessageToJson(event) for event in events)
        for event in events:
            for payload_holder in (event.workflow_execution_started_event_attributes.input,
                                   event.activity_task_scheduled_event_attributes.input):
                haystacks[f"history {stem_id}"] += "".join(p.data.decode(errors="replace")
                                                           for p in payload_holder.payloads)
    failures = [item.body for item in stack.standin.accepted(COMPLETION) if item.body["status"] == "FAILURE"]
    assert failures and failures[0]["result"]["error_code"] == "not_audio"
    assert "poison message" in haystacks["bridge log"]
    for name, text in haystacks.items():
        for secret in (webhook_secret, aws_secret, url_password):
            assert secret not in text, f"{secret!r} leaked into the {name}"
    assert any(item.headers.get("Authorization") for item in stack.standin.received), "credentials were used"


@pytest.mark.parametrize(("prefix", "key", "allowed"), [
    ("uploads", "uploads/user-1/a.wav", True),
    ("uploads/", "uploads/user-1/a.wav", True),
    ("uploads", "uploads-private/a.wav", False),
    ("uploads/user-1", "uploads/user-10/a.wav", False),
])
def test_delete_prefixes_name_folders(prefix: str, key: str, allowed: bool) -> None:
    decided = {"stem_key": key, "decided_key": key, "computed_hash": "ab" * 32, "decided_hash": "ab" * 32}
    if allowed:
        check_duplicate_delete(**decided, allowed_prefixes=(prefix,))
    else:
        with pytest.raises(DeleteRefusedError, match="outside the allowed prefixes"):
            check_duplicate_delete(**decided, allowed_prefixes=(prefix,))


class ReplacedAfterHead:
    """An S3 client on which someone uploads a new object under the key right after WaveFlow's HEAD of it."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def head_object(self, **kwargs: Any) -> Any:
        head = self._s3.head_object(**kwargs)
        self._s3.put_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=b"a newer upload")
        return head


async def test_an_object_replaced_between_the_check_and_the_delete_is_kept(stack: Stack) -> None:
    audio = encode(sine(0.2))
    stack.put(ORIGINAL, audio)
    etag = stack.aws.s3().head_object(Bucket=stack.bucket, Key=ORIGINAL)["ETag"]
    activities = S3Activities(stack.settings, ReplacedAfterHead(stack.aws.s3()), TempArea(stack.settings.temp_dir))
    digest = hashlib.sha256(audio).hexdigest()
    request = DeleteRequest(stem_id="replaced", stem_key=ORIGINAL, decided_key=ORIGINAL, computed_sha256=digest,
                            decided_sha256=digest, etag=etag, allowed_prefixes=())
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(activities.delete_duplicate, request)
    assert refused.value.type == "delete_refused"
    assert "was replaced while WaveFlow was deleting it" in str(refused.value)
    assert stack.get(ORIGINAL) == b"a newer upload"


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("seaweedfs")
    server = SeaweedS3(work / "data", work / "weed.log").start()
    yield server
    server.stop()


@pytest.mark.parametrize("replaced", [True, False])
def test_on_a_real_s3_server_only_the_hashed_object_is_deleted(seaweed: SeaweedS3, stack: Stack,
                                                               replaced: bool) -> None:
    """SeaweedFS checks If-Match itself, as S3 does (moto's shortcuts are not what is tested here)."""
    s3 = seaweed.s3()
    bucket = f"{stack.bucket}-{'replaced' if replaced else 'kept'}"
    seaweed.create_bucket(bucket)
    audio = encode(sine(0.2))
    s3.put_object(Bucket=bucket, Key=ORIGINAL, Body=audio)
    etag = s3.head_object(Bucket=bucket, Key=ORIGINAL)["ETag"]
    settings = stack.settings.model_copy(update={"s3_bucket_name": bucket})
    activities = S3Activities(settings, ReplacedAfterHead(s3) if replaced else s3, TempArea(settings.temp_dir))
    digest = hashlib.sha256(audio).hexdigest()
    request = DeleteRequest(stem_id="real-s3", stem_key=ORIGINAL, decided_key=ORIGINAL, computed_sha256=digest,
                            decided_sha256=digest, etag=etag, allowed_prefixes=())
    if replaced:
        with pytest.raises(ApplicationError, match="was replaced while WaveFlow was deleting it"):
            ActivityEnvironment().run(activities.delete_duplicate, request)
        assert s3.get_object(Bucket=bucket, Key=ORIGINAL)["Body"].read() == b"a newer upload"
    else:
        ActivityEnvironment().run(activities.delete_duplicate, request)
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
