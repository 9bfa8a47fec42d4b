"""`make run`: the whole service on an embedded stack, one sample stem pushed through it, result printed.

Starts a Temporal dev server with its Web UI, moto for S3 and SQS, a NestJS stand-in, then `worker.py` and
`sqs_bridge.py` as real processes. A new stem is analysed; the same audio uploaded again is deleted as a
duplicate; the first is drawn on a page from its waveform JSON. With --once it stops everything afterwards;
otherwise it keeps the stack up for the UI until Ctrl-C.
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import soundfile

from devstack.local_aws import LocalAws
from devstack.nestjs_standin import NestJsStandIn
from devstack.node_packages import ToolUnavailableError
from devstack.processes import LOOPBACK, ROOT, TemporalDevServer, free_port, spawn, stop_process
from devstack.waveform_page import write_page

STATE = ROOT / ".devstack"
BUCKET = "waveflow-demo"


def _port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, preferred))
        except OSError:
            return free_port()
    return preferred


def sample_wav(seconds: float = 6.0, sample_rate: int = 44100) -> bytes:
    """A C-major chord that fades out: something with a visible waveform."""
    time_axis = np.arange(round(seconds * sample_rate)) / sample_rate
    chord = sum(np.sin(2 * np.pi * frequency * time_axis) for frequency in (261.63, 329.63, 392.0)) / 3
    envelope = np.exp(-time_axis / 2.5)
    stereo = np.stack([chord * envelope * 0.8, chord * envelope * 0.6], axis=1)
    buffer = io.BytesIO()
    soundfile.write(buffer, stereo, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _hash_request(stem_id: str, key: str) -> str:
    return json.dumps({"task": "app.tasks.generate_hash_and_webhook", "id": f"hash-{stem_id}-{int(time.time() * 1000)}",
                       "args": [], "kwargs": {"userId": "demo-user", "trackId": "demo-track", "stemId": stem_id,
                                              "filepath": key, "timestamp": "2024-01-01T10:00:00Z",
                                              "original_filename": Path(key).name}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="stop the stack after the sample stems complete")
    once = parser.parse_args().once
    STATE.mkdir(exist_ok=True)
    temporal = TemporalDevServer(port=_port(7233), ui_port=_port(8233), log_file=STATE / "temporal.log")
    aws = LocalAws()
    standin: NestJsStandIn | None = None
    children: list[subprocess.Popen[bytes]] = []
    try:
        print("starting Temporal dev server, moto (S3, SQS) and the NestJS stand-in ...", flush=True)
        temporal.start()
        aws.start()
        aws.create_bucket(BUCKET)
        queue_url = aws.create_queue("waveflow-demo")
        sqs = aws.sqs()
        standin = NestJsStandIn(send_to_sqs=lambda body: sqs.send_message(QueueUrl=queue_url, MessageBody=body))
        standin.start()
        env = {"TEMPORAL_ADDRESS": temporal.address, "S3_BUCKET_NAME": BUCKET, "SQS_QUEUE_URL": queue_url,
               "WEBHOOK_URL": standin.url, "TEMP_DIR": str(STATE / "temp"), "SQS_WAIT_TIME_SECONDS": "2",
               "METRICS_BIND_ADDRESS": f"{LOOPBACK}:{_port(9464)}", "TEMPORAL_SEARCH_ATTRIBUTES": "true",
               "WORKER_HEALTH_BIND_ADDRESS": f"{LOOPBACK}:{_port(9465)}",
               "BRIDGE_HEALTH_BIND_ADDRESS": f"{LOOPBACK}:{_port(9466)}"}
        children = [spawn(script, env, STATE / f"{Path(script).stem}.log") for script in ("worker.py", "sqs_bridge.py")]
        print(f"worker (pid {children[0].pid}) and bridge (pid {children[1].pid}) started; logs in {STATE}/",
              flush=True)

        stamp = int(time.time())
        audio = sample_wav()
        page: Path | str | None = None
        for stem_id in (f"demo-{stamp}", f"demo-{stamp}-again"):
            key = f"uploads/demo-user/demo-track/{stem_id}.wav"
            aws.s3().put_object(Bucket=BUCKET, Key=key, Body=audio)
            sqs.send_message(QueueUrl=queue_url, MessageBody=_hash_request(stem_id, key))
            done = len(standin.accepted("/webhook/completion")) + 1
            completion = standin.wait_for("/webhook/completion", done, timeout=120)[-1].body
            ui_link = f"{temporal.ui_url}/namespaces/default/workflows/stem-{stem_id}"
            print(f"\ncompletion webhook for stem {stem_id}:")
            print(json.dumps(completion, indent=2))
            print(f"workflow in the Temporal UI: {ui_link}")
            waveform_path = completion["result"].get("waveform_data_path")
            if page is None and waveform_path:
                waveform = json.loads(aws.s3().get_object(Bucket=BUCKET, Key=waveform_path)["Body"].read())
                try:
                    page = write_page(STATE / "pages", stem_id, waveform, waveform_path, completion, ui_link)
                except ToolUnavailableError as reason:
                    page = f"not drawn: {reason}"
        remaining = sorted(item["Key"] for item in aws.s3().list_objects_v2(Bucket=BUCKET).get("Contents", []))
        print("\nobjects in S3 now:", *remaining, sep="\n  ")
        print(f"\nTemporal UI: {temporal.ui_url}   worker metrics: http://{env['METRICS_BIND_ADDRESS']}/metrics"
              f"   bridge metrics: http://{env['BRIDGE_HEALTH_BIND_ADDRESS']}/metrics")
        print(f"\nwaveform page: {page.as_uri() if isinstance(page, Path) else page}", flush=True)
        if not once:
            print("the stack keeps running; press Ctrl-C to stop it", flush=True)
            stop = threading.Event()
            for received in (signal.SIGINT, signal.SIGTERM):
                signal.signal(received, lambda *_: stop.set())
            stop.wait()
    finally:
        for child in children:
            stop_process(child)
        if standin is not None:
            standin.stop()
        aws.stop()
        temporal.stop()


if __name__ == "__main__":
    main()
