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

    .venv/bin/python bench/load.py [--stems 1000] [--idle 20] [--s3 seaweedfs] [--against REV [--rounds 2]]

`--against REV` runs the same bench on the code of another commit too (a git worktree; its worker.py and
sqs_bridge.py in this venv), both in each round, alternating which goes first, and prints the figures side by
side with the ratio of their medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from moto.sqs.models import Message, SQSBackend
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.embedded import (
    COMPLETION,
    HASH_CHECK,
    ROOT,
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


@dataclass
class LoadRun:
    """What one burst through one tree of WaveFlow measured."""

    label: str
    count: int
    messages_per_second: float
    stems_per_second: float
    to_hash: list[float]
    to_completion: list[float]
    lost: int
    doubled: int
    failures: int
    cpu_ms_per_stem: dict[str, float]
    machine_share: float
    events_per_stem: float
    actions_per_stem: float
    heartbeats_per_stem: float
    idle_to_hash: list[float]
    idle_to_completion: list[float]


def run_load(label: str, code_root: Path, count: int, idle_count: int, timeout: float, s3: str,
             name: str = "load") -> LoadRun:
    """One embedded stack, a worker and a bridge from `code_root`, `idle_count` lone stems, then `count` at once.
    `name` names its bucket and queue: moto keeps them for the whole process, so each run needs its own."""
    with bench_stack(name, temporal_metrics=True, s3=s3, code_root=code_root) as stack:
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
        standin.wait_for(HASH_CHECK, count, timeout=timeout)
        hashed_all = time.time()
        standin.wait_for(COMPLETION, count, timeout=timeout)
        completed_all = time.time()
        cpu_used = {name: cpu_seconds(pid, below=name == "worker") - cpu_before[name]
                    for name, pid in processes.items()}
        heartbeats = server_requests(temporal.metrics_port, HEARTBEAT_OPERATION) - heartbeats_before
        events, actions = asyncio.run(sampled_histories(temporal.address, stem_ids[:: max(1, count // 20)]))
        time.sleep(3)

    hash_checks = standin.accepted(HASH_CHECK)
    completions = standin.accepted(COMPLETION)
    first_hash: dict[str, float] = {}
    for item in hash_checks:
        first_hash.setdefault(item.body["stemId"], item.received_at)
    first_completion: dict[str, float] = {}
    for item in completions:
        first_completion.setdefault(item.body["stemId"], item.received_at)
    wall = completed_all - started
    return LoadRun(
        label=label, count=count, messages_per_second=count / (hashed_all - started), stems_per_second=count / wall,
        to_hash=[first_hash[stem] - sent_at[stem] for stem in stem_ids if stem in first_hash],
        to_completion=[first_completion[stem] - sent_at[stem] for stem in stem_ids if stem in first_completion],
        lost=sum(1 for stem in stem_ids if stem not in first_completion or stem not in first_hash),
        doubled=sum(n - 1 for kind in (hash_checks, completions)
                    for n in Counter(item.body["stemId"] for item in kind).values()),
        failures=sum(1 for item in completions if item.body["status"] != "SUCCESS"),
        cpu_ms_per_stem={name: 1000 * seconds / count for name, seconds in cpu_used.items()},
        machine_share=sum(cpu_used.values()) / wall / (os.cpu_count() or 1),
        events_per_stem=statistics.mean(events), actions_per_stem=statistics.mean(actions),
        heartbeats_per_stem=heartbeats / count, idle_to_hash=idle_to_hash, idle_to_completion=idle_to_completion)


def print_run(run: LoadRun) -> None:
    print(f"stems: {run.count}   messages/s (send → every hash-check): {run.messages_per_second:.1f}"
          f"   stems/s (send → every completion): {run.stems_per_second:.1f}")
    print(f"latency to hash-check  p50 {percentile(run.to_hash, 0.5):.2f} s   "
          f"p95 {percentile(run.to_hash, 0.95):.2f} s")
    print(f"latency to completion  p50 {percentile(run.to_completion, 0.5):.2f} s   "
          f"p95 {percentile(run.to_completion, 0.95):.2f} s")
    print(f"lost webhooks: {run.lost}   duplicated webhooks: {run.doubled}   failures: {run.failures}")
    wall_share = run.stems_per_second / 1000
    for name, milliseconds in sorted(run.cpu_ms_per_stem.items(), key=lambda item: -item[1]):
        print(f"CPU {name:<31} {milliseconds:6.1f} ms per stem   {100 * milliseconds * wall_share:5.1f}% of a core")
    bottleneck = max(run.cpu_ms_per_stem, key=lambda name: run.cpu_ms_per_stem[name])
    print(f"bottleneck: {bottleneck} ({os.cpu_count()} cores; all processes together used "
          f"{100 * run.machine_share:.0f}% of the machine)")
    print(f"history events per stem: {run.events_per_stem:.0f} (sampled)")
    print(f"Temporal Cloud actions per stem: {run.actions_per_stem + run.heartbeats_per_stem:.1f} "
          f"({run.actions_per_stem:.1f} from the sampled histories + {run.heartbeats_per_stem:.1f} heartbeats that "
          f"reached the server)")
    if run.idle_to_hash:
        print(f"idle, one stem at a time ({len(run.idle_to_hash)}): send → hash-check p50 "
              f"{1000 * percentile(run.idle_to_hash, 0.5):.0f} ms   send → completion p50 "
              f"{1000 * percentile(run.idle_to_completion, 0.5):.0f} ms")


SIDE_BY_SIDE: dict[str, Callable[[LoadRun], float]] = {
    "worker CPU per stem, ms": lambda run: run.cpu_ms_per_stem["worker"],
    "Temporal server CPU per stem, ms": lambda run: run.cpu_ms_per_stem["temporal server"],
    "bridge CPU per stem, ms": lambda run: run.cpu_ms_per_stem["bridge"],
    "stems/s, burst": lambda run: run.stems_per_second,
    "idle p50 send → hash-check, ms": lambda run: 1000 * percentile(run.idle_to_hash, 0.5),
    "idle p50 send → completion, ms": lambda run: 1000 * percentile(run.idle_to_completion, 0.5),
    "history events per stem": lambda run: run.events_per_stem,
}


def print_side_by_side(runs: list[LoadRun], current: str, against: str) -> None:
    """Each figure per round for both trees, and the ratio of the medians (this tree ÷ the other)."""
    print(f"\n{'':<36}{current:>22}{against:>22}{'ratio':>8}")
    for name, figure in SIDE_BY_SIDE.items():
        if name.startswith("idle") and not runs[0].idle_to_hash:
            continue
        ours = [figure(run) for run in runs if run.label == current]
        theirs = [figure(run) for run in runs if run.label == against]
        print(f"{name:<36}{' / '.join(f'{value:.1f}' for value in ours):>22}"
              f"{' / '.join(f'{value:.1f}' for value in theirs):>22}"
              f"{statistics.median(ours) / statistics.median(theirs):>7.2f}x")


@contextlib.contextmanager
def checked_out(revision: str) -> Iterator[Path]:
    """A detached worktree of `revision`, removed afterwards: its worker.py and sqs_bridge.py import its own code."""
    parent = Path(tempfile.mkdtemp(prefix="waveflow-against-"))
    directory = parent / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(directory), revision],
                   check=True)
    try:
        yield directory
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(directory)], check=True)
        parent.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stems", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--idle", type=int, default=20, help="stems sent one at a time before the burst")
    parser.add_argument("--moto-as-is", action="store_true", help="keep moto's quadratic SQS retention check")
    parser.add_argument("--s3", choices=["moto", "seaweedfs"], default="moto",
                        help="the S3 server: moto's (closes every connection) or SeaweedFS (keeps them alive, as S3)")
    parser.add_argument("--against", metavar="REV", help="also run the code of this commit, side by side")
    parser.add_argument("--rounds", type=int, default=2, help="with --against: rounds, each running both trees, "
                                                              "in alternating order")
    args = parser.parse_args()
    if not args.moto_as_is:
        read_retention_directly()
    print("SQS: moto as is" if args.moto_as_is else "SQS: moto, its retention check read directly (see --moto-as-is)")
    print(f"S3: {'SeaweedFS (weed mini), connections kept alive' if args.s3 == 'seaweedfs' else 'moto'}")
    if args.against is None:
        print_run(run_load("this tree", ROOT, args.stems, args.idle, args.timeout, args.s3))
        return
    current = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True,
                             capture_output=True, text=True).stdout.strip()
    with checked_out(args.against) as other:
        trees = [(f"{current} (this tree)", ROOT), (args.against, other)]
        runs = []
        for round_index in range(args.rounds):
            for label, root in trees if round_index % 2 == 0 else trees[::-1]:
                print(f"\n--- round {round_index + 1}: {label}", flush=True)
                runs.append(run_load(label, root, args.stems, args.idle, args.timeout, args.s3,
                                     name=f"load-{len(runs)}"))
                print_run(runs[-1])
    print_side_by_side(runs, trees[0][0], trees[1][0])


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
