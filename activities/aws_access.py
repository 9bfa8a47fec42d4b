"""The AWS clients WaveFlow uses, and AWS answers that mean a missing permission, named by the IAM action and the
resource ARN they lack."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from waveflow.errors import AccessDeniedError
from waveflow.settings import Settings


def make_s3_client(settings: Settings) -> Any:
    """boto3 finds AWS_ENDPOINT_URL and credentials itself: the same code talks to AWS or a local S3."""
    return boto3.client("s3", region_name=settings.aws_region,
                        config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5,
                                      read_timeout=10, max_pool_connections=settings.max_concurrent_activities))


def make_sqs_client(settings: Settings) -> Any:
    return boto3.client("sqs", region_name=settings.aws_region,
                        config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=30))


# HEAD responses have no body, so S3 reports their refusal as the bare status.
ACCESS_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "AllAccessDisabled", "403", "Forbidden"}


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_access_denied(error: ClientError) -> bool:
    return error_code(error) in ACCESS_DENIED_CODES


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def s3_arn(region: str, bucket: str, key: str | None = None) -> str:
    return f"arn:{partition(region)}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def sqs_arn(region: str, queue_url: str) -> str:
    """`https://sqs.<region>.amazonaws.com/<account>/<name>` (or a local endpoint's URL) as the queue's ARN."""
    account, name = queue_url.rstrip("/").split("/")[-2:]
    return f"arn:{partition(region)}:sqs:{region}:{account}:{name}"


def sqs_failure(error: BaseException, queue_arn: str) -> str:
    """A failed SQS call as a log line names it: the missing permission when AWS refused it (a batch call is
    checked under its single-message action), else the error's type and code."""
    if not isinstance(error, ClientError):
        return type(error).__name__
    if is_access_denied(error):
        return str(AccessDeniedError(f"sqs:{error.operation_name.removesuffix('Batch')}", queue_arn))
    return f"{error.operation_name}: {error_code(error)}"


@contextlib.contextmanager
def denied_as(action: str, resource: str) -> Iterator[None]:
    """Turns AWS's refusal inside the block into an AccessDeniedError naming `action` on `resource`."""
    try:
        yield
    except ClientError as error:
        if is_access_denied(error):
            raise AccessDeniedError(action, resource) from None
        raise
