"""A moto server of its own that checks every request against the caller's IAM policies.

moto enforces IAM for the whole process once `/moto-api/reset-auth` is set, so this cannot be the session-wide
server the other tests share. Set-up (bucket, queues, users) runs before enforcement starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx

from devstack.local_aws import REGION
from devstack.processes import LOOPBACK, ROOT, free_port, stop_process, wait_for_port

ACCOUNT_ID = "123456789012"
POLICY_DIR = ROOT / "deploy" / "iam"
# moto checks a batch call under its own name; AWS checks it under the single-message action.
MOTO_BATCH_NAMES = {"sqs:DeleteMessage": "sqs:DeleteMessageBatch",
                    "sqs:ChangeMessageVisibility": "sqs:ChangeMessageVisibilityBatch",
                    "sqs:SendMessage": "sqs:SendMessageBatch"}


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str

    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


def policy(name: str, values: dict[str, str], without: tuple[str, ...] = ()) -> dict[str, Any]:
    """deploy/iam/<name>.json with its placeholders filled in, minus the statements whose Sid is in `without`."""
    text = (POLICY_DIR / f"{name}.json").read_text(encoding="utf-8")
    for placeholder, value in values.items():
        text = text.replace(f"<{placeholder}>", value)
    document = json.loads(text)
    document["Statement"] = [item for item in document["Statement"] if item["Sid"] not in without]
    return document


def with_moto_batch_names(document: dict[str, Any]) -> dict[str, Any]:
    statements = []
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statements.append({**statement, "Action": actions + [MOTO_BATCH_NAMES[a] for a in actions
                                                             if a in MOTO_BATCH_NAMES]})
    return {**document, "Statement": statements}


class EnforcedAws:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._setup = Credentials("setup-access-key", "setup-secret-key")

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> EnforcedAws:
        log = self._log_path.open("ab")
        self._process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, process=self._process)
        return self

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def enforce(self) -> None:
        """From now on every request must be signed by a user whose policies allow it."""
        httpx.post(f"{self.endpoint_url}/moto-api/reset-auth", content=b"0").raise_for_status()

    def client(self, service: str, credentials: Credentials | None = None) -> Any:
        credentials = credentials or self._setup
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint_url,
                            aws_access_key_id=credentials.access_key_id,
                            aws_secret_access_key=credentials.secret_access_key)

    def create_user(self, name: str, document: dict[str, Any]) -> Credentials:
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy",
                            PolicyDocument=json.dumps(with_moto_batch_names(document)))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def environment(self, credentials: Credentials) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                **credentials.environment()}

