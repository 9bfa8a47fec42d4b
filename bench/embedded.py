"""The embedded stack the whole-stack benches run on: a Temporal dev server, moto (SQS, and S3 unless SeaweedFS
serves it), the NestJS stand-in, and WaveFlow's own processes, each stopped when the bench ends."""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.local_aws import LocalAws  # noqa: E402 - after the path is set
from devstack.nestjs_standin import NestJsStandIn  # noqa: E402
from devstack.processes import TemporalDevServer, free_port, spawn, stop_process  # noqa: E402
from devstack.seaweedfs import SeaweedS3  # noqa: E402

HASH_CHECK = "/webhook/hash-check"
COMPLETION = "/webhook/completion"
MIXING_COMPLETE = "/webhook/mixing-complete"


@dataclass
class BenchStack:
    work: Path
    temporal: TemporalDevServer
    aws: LocalAws
    s3: Any
    """The S3 the bench's WaveFlow uses: moto's or SeaweedFS's."""
    bucket: str
    queue_url: str
    standin: NestJsStandIn
    settings: dict[str, str]
    """Environment every WaveFlow process of the bench gets."""
    code_root: Path = ROOT
    """The tree whose `worker.py` and `sqs_bridge.py` run: this one, or another commit's (bench/load.py --against)."""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def send(self, body: str) -> None:
        self.aws.sqs().send_message(QueueUrl=self.queue_url, MessageBody=body)

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def start(self, script: str, name: str, **env: str) -> subprocess.Popen[bytes]:
        """`worker.py` or `sqs_bridge.py` on this stack, its output in `<name>.log`; stopped with the stack."""
        process = spawn(script, {**self.settings, **env}, self.work / f"{name}.log", root=self.code_root)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM, as a rolling deploy sends, and the wait for it to end."""
        stop_process(process)

    def wait_for_line(self, name: str, text: str, timeout: float = 60.0) -> None:
        log = self.work / f"{name}.log"
        deadline = time.monotonic() + timeout
        while text not in (log.read_text() if log.exists() else ""):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{log.name} never said {text!r}")
            time.sleep(0.1)


@contextlib.contextmanager
def bench_stack(name: str, *, temporal_metrics: bool = False, log_level: str = "WARNING",
                s3: Literal["moto", "seaweedfs"] = "moto", code_root: Path = ROOT,
                **settings: str) -> Iterator[BenchStack]:
    """Everything it started is stopped when the bench ends, or when starting the rest fails."""
    work = Path(tempfile.mkdtemp(prefix=f"waveflow-{name}-"))
    with contextlib.ExitStack() as started:
        temporal = TemporalDevServer(port=free_port(), ui_port=free_port(),
                                     metrics_port=free_port() if temporal_metrics else None,
                                     log_file=work / "temporal.log")
        started.callback(temporal.stop)  # before start: a server that fails to come up is stopped too
        temporal.start()
        aws = LocalAws()
        started.callback(aws.stop)
        aws.start()
        seaweed = None
        if s3 == "seaweedfs":
            seaweed = SeaweedS3(work / "seaweedfs", work / "seaweedfs.log").start()
            started.callback(seaweed.stop)
        bucket = f"waveflow-{name}"
        (seaweed or aws).create_bucket(bucket)
        queue_url = aws.create_queue(f"waveflow-{name}", visibility_timeout=60)
        sqs = aws.sqs()
        standin = NestJsStandIn(send_to_sqs=lambda body: sqs.send_message(QueueUrl=queue_url, MessageBody=body))
        standin.start()
        started.callback(standin.stop)
        env = {"TEMPORAL_ADDRESS": temporal.address, "S3_BUCKET_NAME": bucket, "SQS_QUEUE_URL": queue_url,
               "WEBHOOK_URL": standin.url, "TEMP_DIR": str(work / "temp"), "METRICS_BIND_ADDRESS": "",
               "WORKER_HEALTH_BIND_ADDRESS": "", "BRIDGE_HEALTH_BIND_ADDRESS": "", "SQS_WAIT_TIME_SECONDS": "2",
               "LOG_LEVEL": log_level, **(seaweed.environment() if seaweed else {}), **settings}
        stack = BenchStack(work, temporal, aws, (seaweed or aws).s3(), bucket, queue_url, standin, env, code_root)
        try:
            yield stack
        finally:
            for process in stack.processes:
                stop_process(process)


def small_stem(index: int) -> bytes:
    """A tenth of a second of noise, different for every index so that none is a duplicate."""
    samples = np.random.default_rng(index).uniform(-0.5, 0.5, (4410, 2))
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 44100, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def hash_message(stem_id: str, key: str | None = None) -> str:
    return json.dumps({"task": "app.tasks.generate_hash_and_webhook", "id": f"hash-{stem_id}-1", "args": [],
                       "kwargs": {"userId": "u", "trackId": "t", "stemId": stem_id,
                                  "filepath": key or f"uploads/{stem_id}.wav", "original_filename": f"{stem_id}.wav"}})


def percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100)[round(fraction * 100) - 1] if len(values) > 1 else values[0]
