"""Load through the whole embedded stack: SQS → bridge → workflows → webhooks, counting losses and doubles.

Starts a Temporal dev server, moto, the NestJS stand-in, and `worker.py` and `sqs_bridge.py` as processes;
uploads N small distinct stems, sends N NestJS-shaped messages, waits for every completion webhook and prints
messages/s, stems/s, p50/p95 latency from send to hash-check and to completion, lost/duplicated webhooks, the
CPU each process spent per stem (from /proc: the worker, the bridge, the Temporal server, and this process,
which hosts moto and the NestJS stand-in), which of them was the bottleneck, and the history events per stem;
before the burst, it sends `--idle` stems one at a time on the quiet stack and prints their p50 latencies.

moto's SQS checks every message it receives against the retention period by computing all the queue's
attributes, message counts included: a pass over the whole queue per message, quadratic in the queue's depth, a
cost AWS does not have. Unless `--moto-as-is`, the bench reads the retention period directly (the same answer),
so that at 1,000 stems the emulator does not hide what WaveFlow costs.

    .venv/bin/python bench/load.py [--stems 1000] [--idle 20] [--s3 seaweedfs]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from moto.sqs.models import Message, SQSBackend
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.embedded import (
    COMPLETION,
    HASH_CHECK,
    BenchStack,
    bench_stack,
    hash_message,
    percentile,
    small_stem,
)
from tests.cloud_actions import billable_actions

HEARTBEAT_OPERATION = "RecordActivityTaskHeartbeat"


def cpu_seconds(pid: int, *, below: bool = False) -> float:
    """User + system CPU of a process and its reaped children, from /proc; `below`: and of every process below it
    still running (the worker's decoding processes are children of its forkserver, not of the worker)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
    tree, grown = {pid}, below
    while grown:
        below = {child for child, fields in stats.items() if int(fields[1]) in tree} - tree
        tree |= below
        grown = bool(below)
    return sum(int(value) for member in tree if member in stats
               for value in stats[member][11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stems", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--idle", type=int, default=20, help="stems sent one at a time before the burst")
    parser.add_argument("--moto-as-is", action="store_true", help="keep moto's quadratic SQS retention check")
    parser.add_argument("--s3", choices=["moto", "seaweedfs"], default="moto",
                        help="the S3 server: moto's (closes every connection) or SeaweedFS (keeps them alive, as S3)")
    args = parser.parse_args()
    count, idle_count, moto_as_is = args.stems, args.idle, args.moto_as_is
    if not moto_as_is:
        read_retention_directly()
    with bench_stack("load", temporal_metrics=True, s3=args.s3) as stack:
        workers = [stack.start("worker.py", "worker"), stack.start("sqs_bridge.py", "bridge")]
        temporal, standin, sqs = stack.temporal, stack.standin, stack.aws.sqs()
        assert temporal.process is not None
        processes = {"worker": workers[0].pid, "bridge": workers[1].pid, "temporal server": temporal.process.pid,
                     "moto + stand-in (this process)": os.getpid()}
        stem_ids = [f"load-{index:05d}" for index in range(count)]
        for index, stem_id in enumerate(stem_ids):
            stack.put(f"uploads/{stem_id}.wav", small_stem(index))
        idle_to_hash, idle_to_completion = idle_latencies(stack, idle_count)
        sent_at: dict[str, float] = {}
        cpu_before = {name: cpu_seconds(pid, below=name == "worker") for name, pid in processes.items()}
        heartbeats_before = server_requests(temporal.metrics_port, HEARTBEAT_OPERATION)
        started = time.time()
        for offset in range(0, count, 10):
            entries = []
            for stem_id in stem_ids[offset:offset + 10]:
                entries.append({"Id": stem_id, "MessageBody": hash_message(stem_id)})
                sent_at[stem_id] = time.time()
            sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries)
        standin.wait_for(HASH_CHECK, count, timeout=args.timeout)
        hashed_all = time.time()
        standin.wait_for(COMPLETION, count, timeout=args.timeout)
        completed_all = time.time()
        cpu_used = {name: cpu_seconds(pid, below=name == "worker") - cpu_before[name]
                    for name, pid in processes.items()}
        heartbeats = server_requests(temporal.metrics_port, HEARTBEAT_OPERATION) - heartbeats_before
        events, actions = asyncio.run(sampled_histories(temporal.address, stem_ids[:: max(1, count // 20)]))
        time.sleep(3)

    hash_checks = standin.accepted(HASH_CHECK)
    completions = standin.accepted(COMPLETION)
    first_hash = {}
    for item in hash_checks:
        first_hash.setdefault(item.body["stemId"], item.received_at)
    first_completion = {}
    for item in completions:
        first_completion.setdefault(item.body["stemId"], item.received_at)
    to_hash = [first_hash[stem] - sent_at[stem] for stem in stem_ids if stem in first_hash]
    to_completion = [first_completion[stem] - sent_at[stem] for stem in stem_ids if stem in first_completion]
    doubled = sum(n - 1 for kind in (hash_checks, completions)
                  for n in Counter(item.body["stemId"] for item in kind).values())
    lost = sum(1 for stem in stem_ids if stem not in first_completion or stem not in first_hash)
    print("SQS: moto as is" if moto_as_is else "SQS: moto, its retention check read directly (see --moto-as-is)")
    print(f"S3: {'SeaweedFS (weed mini), connections kept alive' if args.s3 == 'seaweedfs' else 'moto'}")
    print(f"stems: {count}   messages/s (send → every hash-check): {count / (hashed_all - started):.1f}"
          f"   stems/s (send → every completion): {count / (completed_all - started):.1f}")
    print(f"latency to hash-check  p50 {percentile(to_hash, 0.5):.2f} s   p95 {percentile(to_hash, 0.95):.2f} s")
    print(f"latency to completion  p50 {percentile(to_completion, 0.5):.2f} s   "
          f"p95 {percentile(to_completion, 0.95):.2f} s")
    print(f"lost webhooks: {lost}   duplicated webhooks: {doubled}   "
          f"failures: {sum(1 for item in completions if item.body['status'] != 'SUCCESS')}")
    wall = completed_all - started
    for name, seconds in sorted(cpu_used.items(), key=lambda item: -item[1]):
        print(f"CPU {name:<31} {1000 * seconds / count:6.1f} ms per stem   {100 * seconds / wall:5.1f}% of a core")
    bottleneck = max(cpu_used, key=lambda name: cpu_used[name])
    print(f"bottleneck: {bottleneck} ({os.cpu_count()} cores; all processes together used "
          f"{100 * sum(cpu_used.values()) / wall / (os.cpu_count() or 1):.0f}% of the machine)")
    print(f"history events per stem: {statistics.mean(events):.0f} (sampled {len(events)} stems)")
    print(f"Temporal Cloud actions per stem: {statistics.mean(actions) + heartbeats / count:.1f} "
          f"({statistics.mean(actions):.1f} from the sampled histories + {heartbeats / count:.1f} heartbeats that "
          f"reached the server)")
    if idle_count:
        print(f"idle, one stem at a time ({idle_count}): send → hash-check p50 "
              f"{1000 * percentile(idle_to_hash, 0.5):.0f} ms   send → completion p50 "
              f"{1000 * percentile(idle_to_completion, 0.5):.0f} ms")


def read_retention_directly() -> None:
    def is_retained(backend: SQSBackend, queue_name: str, message: Message) -> bool:
        retention_seconds = backend.get_queue(queue_name).message_retention_period
        return retention_seconds + message.sent_timestamp / 1000 > time.time()

    SQSBackend.is_message_valid_based_on_retention_period = is_retained  # type: ignore[method-assign]


def idle_latencies(stack: BenchStack, count: int) -> tuple[list[float], list[float]]:
    """Send → hash-check and send → completion of stems sent one at a time: what a lone upload waits for."""
    standin = stack.standin
    to_hash, to_completion = [], []
    for index in range(count):
        stem_id = f"idle-{index:03d}"
        stack.put(f"uploads/{stem_id}.wav", small_stem(1_000_000 + index))
        hashed, completed = len(standin.accepted(HASH_CHECK)), len(standin.accepted(COMPLETION))
        sent = time.time()
        stack.send(hash_message(stem_id))
        to_hash.append(standin.wait_for(HASH_CHECK, hashed + 1)[-1].received_at - sent)
        to_completion.append(standin.wait_for(COMPLETION, completed + 1)[-1].received_at - sent)
        time.sleep(0.25)  # the stem's last workflow task and the bridge's acknowledgement end before the next
    return to_hash, to_completion


def server_requests(port: int | None, operation: str) -> float:
    """How many requests of one operation the Temporal server has answered, from its own /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "service_requests_total" and sample.labels.get("operation") == operation)


async def sampled_histories(address: str, stem_ids: list[str]) -> tuple[list[int], list[int]]:
    """Events and billable actions per stem, for a sample of the stems."""
    client = await Client.connect(address)
    histories = [await client.get_workflow_handle(f"stem-{stem_id}").fetch_history() for stem_id in stem_ids]
    return [len(history.events) for history in histories], [billable_actions(history) for history in histories]


if __name__ == "__main__":
    main()
