"""The policies in deploy/iam/ are enough and no more: the pipeline on moto with IAM enforced, as IAM users
holding only those policies; a missing permission ends a stem at once as `access_denied`, naming what is missing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.aws_access import sqs_arn, sqs_failure
from activities.errors import as_application_errors
from activities.s3 import S3Activities
from devstack.local_aws import REGION
from devstack.nestjs_standin import NestJsStandIn
from devstack.processes import TemporalDevServer, free_port, spawn, stop_process
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, hash_request
from tests.enforced_aws import ACCOUNT_ID, Credentials, EnforcedAws, policy
from waveflow.errors import AccessDeniedError, ObjectMissingError
from waveflow.models import HealthReport
from waveflow.settings import Settings
from waveflow.tempfiles import TempArea
from workflows.maintenance import HealthCheckWorkflow

pytestmark = pytest.mark.xdist_group("iam")  # its tests share one IAM-enforcing moto

AUDIO = encode(sine(0.5))


@dataclass
class IamWorld:
    aws: EnforcedAws
    bucket: str
    queue_url: str
    dlq_url: str
    users: dict[str, Credentials]

    def admin(self, service: str) -> Any:
        return self.aws.client(service, self.users["admin"])


@pytest.fixture(scope="module")
def iam_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamWorld]:
    aws = EnforcedAws(tmp_path_factory.mktemp("moto-iam") / "moto.log").start()
    name = f"iam-{uuid.uuid4().hex[:10]}"
    aws.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    values = {"bucket": name, "region": REGION, "account-id": ACCOUNT_ID, "queue-name": name,
              "dlq-name": f"{name}-dlq", "stem-prefix": "uploads/", "delete-prefix": "uploads/"}
    users = {
        "admin": aws.create_user("admin", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        "worker": aws.create_user("worker", policy("worker-policy", values)),
        "bridge": aws.create_user("bridge", policy("bridge-policy", values)),
        "no-get": aws.create_user("no-get", policy("worker-policy", values, without=("ReadStems",))),
        "no-get-no-list": aws.create_user("no-get-no-list", policy(
            "worker-policy", values, without=("ReadStems", "TellMissingKeysFromDeniedOnesAndCheckHealth"))),
        "no-put": aws.create_user("no-put", policy("worker-policy", values,
                                                   without=("WriteWaveformsMixesAndSuccessRecords",))),
    }
    aws.enforce()
    yield IamWorld(aws, name, queue_url, dlq_url, users)
    aws.stop()


def test_enforcement_is_on(iam_world: IamWorld) -> None:
    """Without this, every other test here would pass on any policy."""
    bridge_s3 = iam_world.aws.client("s3", iam_world.users["bridge"])
    with pytest.raises(bridge_s3.exceptions.ClientError, match=r"AccessDenied|403"):
        bridge_s3.put_object(Bucket=iam_world.bucket, Key="uploads/not-the-bridge's.wav", Body=b"")
    worker_sqs = iam_world.aws.client("sqs", iam_world.users["worker"])
    with pytest.raises(worker_sqs.exceptions.ClientError, match="AccessDenied"):
        worker_sqs.receive_message(QueueUrl=iam_world.queue_url)


async def test_whole_pipeline_runs_on_the_least_privilege_policies(iam_world: IamWorld, client: Client,
                                                                   temporal_server: TemporalDevServer,
                                                                   tmp_path: Path) -> None:
    s3, sqs = iam_world.admin("s3"), iam_world.admin("sqs")
    s3.put_object(Bucket=iam_world.bucket, Key="uploads/original.wav", Body=AUDIO)
    s3.put_object(Bucket=iam_world.bucket, Key="uploads/copy.wav", Body=AUDIO)
    s3.put_object(Bucket=iam_world.bucket, Key="private/elsewhere.wav", Body=AUDIO)
    standin = NestJsStandIn(send_to_sqs=lambda body: sqs.send_message(QueueUrl=iam_world.queue_url,
                                                                       MessageBody=body)).start()
    task_queue = f"tq-{iam_world.bucket}"
    common = {"S3_BUCKET_NAME": iam_world.bucket, "SQS_QUEUE_URL": iam_world.queue_url, "WEBHOOK_URL": standin.url,
              "TEMPORAL_TASK_QUEUE": task_queue, "WORKER_HOST_ID": "iam-host", "TEMP_DIR": str(tmp_path / "temp"),
              "S3_DELETE_ALLOWED_PREFIXES": "uploads/", "SQS_WAIT_TIME_SECONDS": "1", "METRICS_BIND_ADDRESS": "",
              "WORKER_HEALTH_BIND_ADDRESS": f"127.0.0.1:{free_port()}",
              "BRIDGE_HEALTH_BIND_ADDRESS": f"127.0.0.1:{free_port()}"}
    worker = spawn("worker.py", {**common, **iam_world.aws.environment(iam_world.users["worker"])},
                   tmp_path / "worker.log")
    bridge = spawn("sqs_bridge.py", {**common, "SQS_DLQ_URL": iam_world.dlq_url,
                                     **iam_world.aws.environment(iam_world.users["bridge"])}, tmp_path / "bridge.log")
    try:
        sqs.send_message(QueueUrl=iam_world.queue_url,
                         MessageBody=json.dumps(hash_request("iam-original", "uploads/original.wav")))
        [analysed] = await asyncio.to_thread(standin.wait_for, COMPLETION, 1, 90)
        sqs.send_message(QueueUrl=iam_world.queue_url,
                         MessageBody=json.dumps(hash_request("iam-copy", "uploads/copy.wav")))
        sqs.send_message(QueueUrl=iam_world.queue_url,
                         MessageBody=json.dumps(hash_request("iam-missing", "uploads/never-uploaded.wav")))
        sqs.send_message(QueueUrl=iam_world.queue_url,
                         MessageBody=json.dumps(hash_request("iam-denied", "private/elsewhere.wav")))
        sqs.send_message(QueueUrl=iam_world.queue_url, MessageBody="this is not a message")
        completions = await asyncio.to_thread(standin.wait_for, COMPLETION, 4, 90)
        report: HealthReport = await client.execute_workflow(HealthCheckWorkflow.run, id=f"health-{task_queue}",
                                                             task_queue=task_queue)
        dead = sqs.receive_message(QueueUrl=iam_world.dlq_url, WaitTimeSeconds=5,
                                   MessageAttributeNames=["All"]).get("Messages", [])
    finally:
        stop_process(bridge)
        stop_process(worker)
        standin.stop()

    by_stem = {item.body["stemId"]: item.body for item in completions}
    assert analysed.body["status"] == "SUCCESS"
    assert analysed.body["result"]["audio_data_hash"] == hashlib.sha256(AUDIO).hexdigest()
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=iam_world.bucket)["Contents"]}
    assert {analysed.body["result"]["waveform_data_path"], analysed.body["result"]["waveform_detail_path"]} <= keys
    assert by_stem["iam-copy"]["result"]["status"] == "duplicate_file_deleted"
    assert "uploads/copy.wav" not in keys and "uploads/original.wav" in keys
    assert by_stem["iam-missing"]["result"]["error_code"] == "object_not_found"
    # Outside the worker's read prefix: named at once, not retried until a deadline.
    assert by_stem["iam-denied"]["result"] == {
        "error_code": "access_denied",
        "error": f"access denied: WaveFlow may not s3:GetObject on arn:aws:s3:::{iam_world.bucket}/private/"
                 "elsewhere.wav; grant it as docs/aws-iam.md shows"}
    assert [item["Body"] for item in dead] == ["this is not a message"]
    assert report.status == "healthy", report
    depth = sqs.get_queue_attributes(QueueUrl=iam_world.queue_url, AttributeNames=["All"])["Attributes"]
    assert depth["ApproximateNumberOfMessages"] == depth["ApproximateNumberOfMessagesNotVisible"] == "0"
    denied = [line for line in (tmp_path / "worker.log").read_text().splitlines() + (tmp_path / "bridge.log")
              .read_text().splitlines() if "AccessDenied" in line or "access denied" in line]
    assert all("private/elsewhere.wav" in line for line in denied), "only the stem outside the read prefix"


def activities_with(s3: Any, bucket: str, tmp_path: Path) -> S3Activities:
    settings = Settings(s3_bucket_name=bucket, webhook_url="http://127.0.0.1:9/webhook", aws_region=REGION,
                        temp_dir=tmp_path / "temp", metrics_bind_address="")
    return S3Activities(settings, s3, TempArea(settings.temp_dir))


def s3_activities(world: IamWorld, user: str, tmp_path: Path) -> S3Activities:
    return activities_with(world.aws.client("s3", world.users[user]), world.bucket, tmp_path)


@pytest.mark.parametrize(("user", "action", "resource"), [
    ("no-get", "s3:GetObject", "arn:aws:s3:::{bucket}/uploads/original.wav"),
    ("no-get-no-list", "s3:ListBucket", "arn:aws:s3:::{bucket}"),
])
def test_a_denied_read_names_the_missing_action_and_is_not_retried(iam_world: IamWorld, tmp_path: Path, user: str,
                                                                   action: str, resource: str) -> None:
    iam_world.admin("s3").put_object(Bucket=iam_world.bucket, Key="uploads/original.wav", Body=AUDIO)
    with pytest.raises(ApplicationError) as raised, as_application_errors():
        s3_activities(iam_world, user, tmp_path).fetch("stem-1", "uploads/original.wav", 10**9)
    assert raised.value.type == "access_denied" and raised.value.non_retryable
    assert f"may not {action} on {resource.format(bucket=iam_world.bucket)}" in raised.value.message


def test_a_denied_upload_names_put_object(iam_world: IamWorld, tmp_path: Path) -> None:
    source = tmp_path / "waveform.json"
    source.write_text("{}")
    with pytest.raises(AccessDeniedError) as raised:
        s3_activities(iam_world, "no-put", tmp_path).upload_file(source, "waveforms/s_waveform_1.json",
                                                                 "application/json")
    assert (raised.value.action, raised.value.resource) == (
        "s3:PutObject", f"arn:aws:s3:::{iam_world.bucket}/waveforms/s_waveform_1.json")


def test_with_list_bucket_a_missing_key_is_object_not_found(iam_world: IamWorld, tmp_path: Path) -> None:
    with pytest.raises(ObjectMissingError):
        s3_activities(iam_world, "worker", tmp_path).fetch("stem-1", "uploads/absent.wav", 10**9)


@pytest.mark.parametrize(("listing", "expected"), [
    ({"KeyCount": 0}, ObjectMissingError),
    ({"KeyCount": 1, "Contents": [{"Key": "uploads/a.wav"}]}, AccessDeniedError),
])
def test_aws_403_for_a_get_is_told_apart_by_a_listing(tmp_path: Path, listing: dict[str, Any],
                                                       expected: type[Exception]) -> None:
    """Real S3 answers a GET of a missing key with 403 unless s3:ListBucket is granted (moto answers 404)."""
    s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b")
    activities = activities_with(s3, "bucket-a", tmp_path)
    stubber = Stubber(s3)
    stubber.add_client_error("get_object", service_error_code="403", http_status_code=403)
    stubber.add_response("list_objects_v2", listing, {"Bucket": "bucket-a", "Prefix": "uploads/a.wav", "MaxKeys": 1})
    with stubber, pytest.raises(expected):
        activities.fetch("stem-1", "uploads/a.wav", 10**9)


@pytest.mark.parametrize(("call", "action"), [
    (lambda sqs, url: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0), "sqs:ReceiveMessage"),
    (lambda sqs, url: sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": "r"}]),
     "sqs:DeleteMessage"),
])
def test_a_refused_sqs_call_is_logged_as_the_permission_it_lacks(iam_world: IamWorld, call: Any,
                                                                  action: str) -> None:
    """The bridge's log line for a refused poll names the action and the queue's ARN, as the policy file spells
    them (a batch call is checked under its single-message action)."""
    queue_arn = sqs_arn(REGION, iam_world.queue_url)
    assert queue_arn == f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{iam_world.queue_url.rsplit('/', 1)[1]}"
    without_sqs = iam_world.aws.client("sqs", iam_world.users["no-get"])
    with pytest.raises(ClientError) as refused:
        call(without_sqs, iam_world.queue_url)
    assert sqs_failure(refused.value, queue_arn) == (
        f"access denied: WaveFlow may not {action} on {queue_arn}; grant it as docs/aws-iam.md shows")
