"""Settings: a missing or malformed variable stops start-up with one line that names it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack.processes import ROOT

VALID = {"S3_BUCKET_NAME": "stems-bucket", "WEBHOOK_URL": "https://api.example.com/webhook",
         "SQS_QUEUE_URL": "https://sqs.ap-northeast-2.amazonaws.com/1/q"}


PREFIX = "waveflow: invalid environment: "


@pytest.mark.parametrize(("script", "change", "line"), [
    ("worker.py", {"S3_BUCKET_NAME": None}, PREFIX + "S3_BUCKET_NAME: Field required"),
    ("worker.py", {"WEBHOOK_URL": "not a url"}, PREFIX + "WEBHOOK_URL: Input should be a valid URL"),
    ("worker.py", {"MAX_FILE_SIZE_MB": "lots"}, PREFIX + "MAX_FILE_SIZE_MB: Input should be a valid integer"),
    ("sqs_bridge.py", {"LOG_LEVEL": "LOUD"}, PREFIX + "LOG_LEVEL: Value error, must be DEBUG"),
    ("sqs_bridge.py", {"SQS_QUEUE_URL": None}, PREFIX + "SQS_QUEUE_URL: Field required"),
])
def test_bad_environment_stops_with_one_line(script: str, change: dict[str, str | None], line: str) -> None:
    env = {key: value for key, value in os.environ.items() if key not in VALID}
    env.update({key: value for key, value in {**VALID, **change}.items() if value is not None})
    env["TEMPORAL_ADDRESS"] = "127.0.0.1:1"
    done = subprocess.run([sys.executable, str(ROOT / script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith(line)


def test_unreachable_temporal_is_one_clear_line() -> None:
    env = {**os.environ, **VALID, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    done = subprocess.run([sys.executable, str(ROOT / "worker.py")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("waveflow: cannot connect to Temporal at 127.0.0.1:1")
    assert "Traceback" not in done.stderr
