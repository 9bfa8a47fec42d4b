"""The only worker host replaced while stems wait for their decision: the latency it adds to each stem.

Starts the embedded stack (Temporal dev server, moto, the NestJS stand-in, `sqs_bridge.py` and `worker.py` as
processes) with the stand-in holding its decisions. Two rounds of `--stems` stems: each is hashed, then every
decision is sent at once on SQS and the time from that send to each completion is taken. In the first round the
host stays; in the second it is shut down (SIGTERM, as a rolling deploy does) and a new host with an empty temp
area (a new pod) takes over before the decisions are sent. Prints both rounds and the latency the replacement
added, p50 and p95.

    .venv/bin/python bench/rolling_deploy.py [--stems 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import COMPLETION, HASH_CHECK, hash_message, percentile, small_stem  # noqa: E402
from devstack.local_aws import LocalAws  # noqa: E402
from devstack.nestjs_standin import NestJsStandIn  # noqa: E402
from devstack.processes import TemporalDevServer, free_port, spawn, stop_process  # noqa: E402

BUCKET = "waveflow-deploy"


def decision_message(stem_id: str) -> str:
    return json.dumps({"task": "app.tasks.process_audio_analysis", "id": f"analysis-{stem_id}-1", "args": [],
                       "kwargs": {"stemId": stem_id, "filepath": f"uploads/{stem_id}.wav", "num_peaks": 100}})


def wait_for_line(log: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in (log.read_text() if log.exists() else ""):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{log.name} never said {text!r}")
        time.sleep(0.1)


class Round:
    def __init__(self, standin: NestJsStandIn, s3: Any, send: Any, name: str, stems: int) -> None:
        self.standin, self.send = standin, send
        self.stem_ids = [f"{name}-{index:03d}" for index in range(stems)]
        for index, stem_id in enumerate(self.stem_ids):
            s3.put_object(Bucket=BUCKET, Key=f"uploads/{stem_id}.wav", Body=small_stem(hash(name) % 10_000 + index))

    def hash_all(self) -> None:
        before = len(self.standin.accepted(HASH_CHECK))
        for stem_id in self.stem_ids:
            self.send(hash_message(stem_id))
        self.standin.wait_for(HASH_CHECK, before + len(self.stem_ids), timeout=300)
        time.sleep(2)  # every stem has reached its wait for the decision

    def decide_all(self) -> list[float]:
        """Seconds from the decisions' send to each stem's completion."""
        before = len(self.standin.accepted(COMPLETION))
        sent = time.time()
        for stem_id in self.stem_ids:
            self.send(decision_message(stem_id))
        self.standin.wait_for(COMPLETION, before + len(self.stem_ids), timeout=600)
        done = {item.body["stemId"]: item.received_at for item in self.standin.accepted(COMPLETION)}
        return [done[stem_id] - sent for stem_id in self.stem_ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stems", type=int, default=50)
    stems = parser.parse_args().stems
    work = Path(tempfile.mkdtemp(prefix="waveflow-deploy-"))
    temporal = TemporalDevServer(port=free_port(), ui_port=free_port(), log_file=work / "temporal.log").start()
    aws = LocalAws().start()
    aws.create_bucket(BUCKET)
    queue_url = aws.create_queue("waveflow-deploy", visibility_timeout=60)
    sqs = aws.sqs()

    def send(body: str) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    standin = NestJsStandIn(send_to_sqs=send).start()
    standin.behaviour.send_decisions = False
    env = {"TEMPORAL_ADDRESS": temporal.address, "S3_BUCKET_NAME": BUCKET, "SQS_QUEUE_URL": queue_url,
           "WEBHOOK_URL": standin.url, "METRICS_BIND_ADDRESS": "", "WORKER_HEALTH_BIND_ADDRESS": "",
           "BRIDGE_HEALTH_BIND_ADDRESS": "", "SQS_WAIT_TIME_SECONDS": "2", "LOG_LEVEL": "INFO"}
    hosts: list[subprocess.Popen[bytes]] = []

    def start_host(name: str) -> None:
        log = work / f"{name}.log"
        hosts.append(spawn("worker.py", {**env, "WORKER_HOST_ID": name, "TEMP_DIR": str(work / name)}, log))
        wait_for_line(log, "worker polling")

    bridge = spawn("sqs_bridge.py", env, work / "bridge.log")
    try:
        start_host("host-a")
        s3 = aws.s3()
        kept, replaced = Round(standin, s3, send, "kept", stems), Round(standin, s3, send, "replaced", stems)
        kept.hash_all()
        baseline = kept.decide_all()
        replaced.hash_all()
        stop_process(hosts[-1])
        start_host("host-b")
        after_deploy = replaced.decide_all()
    finally:
        for process in (*hosts, bridge):
            stop_process(process)
        standin.stop()
        aws.stop()
        temporal.stop()
    told = next((line for line in (work / "host-a.log").read_text().splitlines() if "told to use" in line), "")
    print(f"stems per round: {stems}   host-a at shutdown: {json.loads(told)['message'] if told else '?'}")
    for name, took in (("host kept", baseline), ("host replaced", after_deploy)):
        print(f"{name:<14} decision → completion  p50 {percentile(took, 0.5):.2f} s   "
              f"p95 {percentile(took, 0.95):.2f} s")
    print(f"added by the replacement   p50 {percentile(after_deploy, 0.5) - percentile(baseline, 0.5):.2f} s   "
          f"p95 {percentile(after_deploy, 0.95) - percentile(baseline, 0.95):.2f} s")


if __name__ == "__main__":
    main()
