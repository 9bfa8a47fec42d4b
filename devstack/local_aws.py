"""moto's server mode as the local S3 and SQS, reached the standard way: through AWS_ENDPOINT_URL."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from devstack.processes import LOOPBACK, free_port

REGION = "ap-northeast-2"


def local_aws_environment(endpoint_url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint_url, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local-access-key", "AWS_SECRET_ACCESS_KEY": "local-secret-key"}


@dataclass
class LocalAws:
    port: int = 0
    server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LocalAws:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.port = self.port or free_port()
        self.server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=False)
        self.server.start()
        os.environ.update(local_aws_environment(self.endpoint_url))
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def s3(self) -> Any:
        return boto3.client("s3", region_name=REGION, endpoint_url=self.endpoint_url)

    def sqs(self) -> Any:
        return boto3.client("sqs", region_name=REGION, endpoint_url=self.endpoint_url)

    def create_bucket(self, name: str) -> None:
        self.s3().create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})

    def create_queue(self, name: str, visibility_timeout: int = 30) -> str:
        return self.sqs().create_queue(QueueName=name,
                                       Attributes={"VisibilityTimeout": str(visibility_timeout)})["QueueUrl"]
