"""moto's server mode as the local S3 and SQS, reached the standard way: through AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from moto.sqs.models import Queue

from devstack.processes import LOOPBACK, free_port

REGION = "ap-northeast-2"
MOTO_DELETE_MESSAGE = Queue.delete_message


def local_aws_environment(endpoint_url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint_url, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local-access-key", "AWS_SECRET_ACCESS_KEY": "local-secret-key"}


def delete_under_the_queue_lock() -> None:
    """moto (5.2.5) deletes an SQS message by building a new message list and putting it in place outside the lock
    that a send appends under: a message sent between the two is lost. SQS loses nothing, so neither may the local
    one, or a test sees a stem wait for a decision the stand-in sent."""
    if Queue.delete_message is not MOTO_DELETE_MESSAGE:
        return

    def delete_message(queue: Queue, receipt_handle: str) -> None:
        with queue._messages_lock:
            MOTO_DELETE_MESSAGE(queue, receipt_handle)

    Queue.delete_message = delete_message  # type: ignore[method-assign]


@dataclass
class LocalAws:
    """While started, the process's AWS environment points at it; `stop` puts back what was there."""

    port: int = 0
    server: ThreadedMotoServer | None = None
    replaced: dict[str, str | None] = field(default_factory=dict)

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LocalAws:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.port = self.port or free_port()
        delete_under_the_queue_lock()
        self.server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=False)
        self.server.start()
        environment = local_aws_environment(self.endpoint_url)
        self.replaced = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        for name, value in self.replaced.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.replaced = {}

    def s3(self) -> Any:
        return boto3.client("s3", region_name=REGION, endpoint_url=self.endpoint_url)

    def sqs(self) -> Any:
        return boto3.client("sqs", region_name=REGION, endpoint_url=self.endpoint_url)

    def create_bucket(self, name: str) -> None:
        self.s3().create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})

    def create_queue(self, name: str, visibility_timeout: int = 30, dead_letter_queue_url: str | None = None,
                     max_receive_count: int = 5) -> str:
        """A queue; with `dead_letter_queue_url`, SQS itself moves a message there after `max_receive_count`."""
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if dead_letter_queue_url:
            arn = self.sqs().get_queue_attributes(QueueUrl=dead_letter_queue_url,
                                                  AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn,
                                                      "maxReceiveCount": str(max_receive_count)})
        return self.sqs().create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
