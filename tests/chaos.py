"""A seeded chaos run on the embedded stack: a workload and a fault schedule drawn from one seed, then invariants.

    .venv/bin/python -m tests.chaos --seed 7 --minutes 60

Two worker hosts (their S3 through the fault proxy) and two bridges run while workers and bridges are SIGKILLed
and restarted, Temporal is stopped and restarted on its database, the webhook server is down or answers 5xx, 429
or 401 for a while, S3 answers 503, and once the workers are replaced one by one by a build with a patched
workflow (a rolling deploy). At the end every stem's completions (by Idempotency-Key), the originals in S3, the
dead-letter queue, Temporal's histories and, after the sweep, the temp areas are checked. The same seed gives the
same workload and the same fault schedule (the moments faults land on the stems still depend on timing); a
violation names the stem, and the timeline printed beside it says which faults were around.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from devstack.fault_proxy import FaultProxy
from devstack.local_aws import LocalAws
from devstack.nestjs_standin import NestJsStandIn
from devstack.processes import TemporalDevServer, free_port, spawn, stop_process, temporal_cli
from tests.changed_workflow import took_the_patch
from waveflow.tempfiles import ANY_FILE_MAX_AGE_SECONDS, OWN_FILE, TempArea

HASH_CHECK = "/webhook/hash-check"
COMPLETION = "/webhook/completion"
MIXING_COMPLETE = "/webhook/mixing-complete"
DECISION_TIMEOUT_SECONDS = 20
QUIET_SECONDS = 60
"""Longer than any fault lasts and than the decision timeout: a minute with no webhook means the rest is lost."""
MAX_EVENTS_PER_RUN = 300
"""The bound a stem's history stays within under these faults (a clean analysed stem takes about 40)."""

STEM_KINDS = ("analysed", "analysed", "analysed", "duplicate", "not_audio", "undecided", "late", "cancelled",
              "missing_then_rerun")
UNDECIDED_KINDS = ("undecided", "late", "cancelled")
"""Stems the server leaves undecided when their hash-check comes: for good, until their run timed out, or until the
runner cancelled them with the CLI."""
FAULT_KINDS = ("kill_worker", "kill_bridge", "restart_temporal", "webhook_down", "webhook_refusing", "s3_errors")
SLOW_KINDS = ("webhook_slow", "s3_slow")
"""The webhook server answering after WEBHOOK_TIMEOUT_SECONDS (the sender retries what it may already have
applied), and S3 answering downloads late."""
TODAYS_WORKER, PATCHED_WORKER = "worker.py", "tests.changed_worker"


@dataclass(frozen=True)
class StemPlan:
    stem_id: str
    kind: str
    envelope: str
    """`task` (a task envelope: task, id, kwargs), `flat` (the kwargs beside `task`) or `celery` (kombu's base64
    protocol-2 message)."""
    redelivered: bool
    twin_of: str | None = None
    """For a duplicate: the stem whose bytes it repeats."""

    @property
    def key(self) -> str:
        return f"uploads/chaos/{self.stem_id}.wav"

    @property
    def expected(self) -> list[str]:
        """The completions the server must receive, in order: SUCCESS or the FAILURE's error code."""
        return {"not_audio": ["not_audio"], "undecided": ["decision_timeout"], "late": ["decision_timeout", "SUCCESS"],
                "cancelled": ["cancelled"], "missing_then_rerun": ["object_not_found", "SUCCESS"]}.get(self.kind,
                                                                                                      ["SUCCESS"])


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    target: int
    seconds: float


@dataclass
class Plan:
    seed: int
    stems: list[StemPlan]
    mixes: dict[str, bool]
    """Stage id → whether all its stems are good."""
    poison: list[str]
    faults: list[Fault]
    send_over: float


def plan(seed: int, minutes: float) -> Plan:
    rng = random.Random(seed)
    duration = minutes * 60
    count = max(12, round(minutes * 12))
    stems: list[StemPlan] = []
    for index in range(count):
        kind = rng.choice(STEM_KINDS)
        originals = [stem.stem_id for stem in stems if stem.kind == "analysed"]
        if kind == "duplicate" and not originals:
            kind = "analysed"
        stems.append(StemPlan(f"s{index:04d}", kind, rng.choice(("task", "flat", "celery")), rng.random() < 0.2,
                              rng.choice(originals) if kind == "duplicate" else None))
    mixes = {f"mix{index:03d}": rng.random() < 0.75 for index in range(max(2, round(minutes)))}
    poison = [rng.choice(["not json at all", '{"task": "app.tasks.make_coffee", "kwargs": {}}',
                          json.dumps({"task": "app.tasks.generate_hash_and_webhook", "kwargs": {"stemId": "../x"}})])
              for _ in range(max(2, round(minutes / 2)))]
    send_over = duration * 0.6
    faults = [Fault(round(rng.uniform(5, duration * 0.8), 1), rng.choice(FAULT_KINDS), rng.randrange(2),
                    round(rng.uniform(2, 12), 1)) for _ in range(max(4, round(minutes * 3)))]
    faults.append(Fault(round(rng.uniform(duration * 0.2, duration * 0.5), 1), "rolling_deploy", 0, 5.0))
    slow = random.Random(seed + 2)  # its own stream: adding these kept every earlier seed's other draws
    faults += [Fault(round(slow.uniform(5, duration * 0.8), 1), slow.choice(SLOW_KINDS), 0,
                     round(slow.uniform(4, 12), 1)) for _ in range(max(2, round(minutes / 2)))]
    faults.sort(key=lambda fault: fault.at)
    return Plan(seed, stems, mixes, poison, faults, send_over)


def audio(seed: int, seconds: float = 0.5) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.random.default_rng(seed).uniform(-0.5, 0.5, (round(seconds * 44100), 2)), 44100,
                    format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def envelope(task: str, kwargs: dict[str, Any], message_id: str, kind: str) -> str:
    if kind == "task":
        return json.dumps({"task": f"app.tasks.{task}", "id": message_id, "args": [], "kwargs": kwargs})
    if kind == "flat":
        return json.dumps({"task": f"app.tasks.{task}", "id": message_id, **kwargs})
    body = base64.b64encode(json.dumps([[], kwargs, {"callbacks": None, "errbacks": None}]).encode()).decode()
    message = {"body": body, "content-encoding": "utf-8", "content-type": "application/json",
               "headers": {"lang": "py", "task": f"app.tasks.{task}", "id": message_id, "root_id": message_id},
               "properties": {"correlation_id": message_id, "body_encoding": "base64", "delivery_tag": "x"}}
    return base64.b64encode(json.dumps(message).encode()).decode()


@dataclass
class Chaos:
    plan: Plan
    work: Path
    temporal: TemporalDevServer
    aws: LocalAws
    proxy: FaultProxy
    standin: NestJsStandIn
    bucket: str
    queue_url: str
    dlq_url: str
    env: dict[str, str]
    bridge_script: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_scripts: list[str] = field(default_factory=lambda: [TODAYS_WORKER, TODAYS_WORKER])
    """What each host runs: today's worker until the rolling deploy replaces it."""
    mixed_fleet: tuple[float, float] | None = None
    """Wall-clock start and end of the rolling deploy, while today's and the patched worker polled together."""
    cut_at: list[float] = field(default_factory=lambda: [0.0, 0.0])
    """Wall-clock time each host's worker was last killed mid-work: a temp file it wrote until then may be an
    attempt's leftover; one written later is a leak."""
    left_to_the_sweep: list[set[str]] = field(default_factory=lambda: [set(), set()])
    """Per host, the stems whose file there may be left, like a killed attempt's, to the host's sweep: one of their
    workflow tasks timed out or failed there (a local download in it wrote a file no run owns), or they were told
    that the host left (`host_left`: they skip its temp files)."""
    missed_cancels: set[str] = field(default_factory=set)
    """Stems whose cancel reached Temporal only after their run had ended (it timed out waiting first)."""
    bridges: list[subprocess.Popen[bytes]] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    originals: dict[str, str] = field(default_factory=dict)
    """Key → SHA-256 of what was uploaded."""
    contents: dict[str, bytes] = field(default_factory=dict)
    """Stem id → its audio."""
    awaiting_rerun: list[StemPlan] = field(default_factory=list)
    """Stems sent before their object was uploaded, until their FAILURE comes and the server asks again."""
    awaiting_late_decision: list[StemPlan] = field(default_factory=list)
    """Stems the server decides only after their run timed out waiting."""
    awaiting_cancel: list[StemPlan] = field(default_factory=list)
    """Stems an operator cancels with the CLI once they wait for their decision."""
    started: float = field(default_factory=time.monotonic)
    processes_lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while a fault or the supervisor replaces a process."""

    def note(self, text: str) -> None:
        self.timeline.append(f"{time.monotonic() - self.started:7.1f} s  {text}")

    def worker(self, index: int) -> subprocess.Popen[bytes]:
        env = {**self.env, "AWS_ENDPOINT_URL": self.proxy.url, "WORKER_HOST_ID": f"host-{index}",
               "TEMP_DIR": str(self.work / f"temp-{index}")}
        return spawn(self.worker_scripts[index], env, self.work / f"worker-{index}.log")

    def stop_worker(self, index: int) -> None:
        """SIGTERM: running activities get their minute; one still running after 70 s is killed."""
        stop_process(self.workers[index], timeout=70)
        if self.workers[index].returncode == -signal.SIGKILL:
            self.cut_at[index] = time.time()

    def bridge(self, index: int) -> subprocess.Popen[bytes]:
        return spawn(self.bridge_script, self.env, self.work / f"bridge-{index}.log")

    def put(self, key: str, data: bytes) -> None:
        self.aws.s3().put_object(Bucket=self.bucket, Key=key, Body=data)
        self.originals[key] = hashlib.sha256(data).hexdigest()

    def send(self, body: str) -> None:
        self.aws.sqs().send_message(QueueUrl=self.queue_url, MessageBody=body)

    def fire(self, fault: Fault) -> None:
        with self.processes_lock:
            self._fire(fault)

    def supervise(self) -> None:
        """What Kubernetes does for a pod that exits: a worker or bridge that ended by itself (one started while
        Temporal was away gives up with one line) is started again."""
        with self.processes_lock:
            for kind, processes, start in (("worker", self.workers, self.worker),
                                           ("bridge", self.bridges, self.bridge)):
                for index, process in enumerate(processes):
                    if process.poll() is not None:
                        self.note(f"{kind} #{index} exited ({process.returncode}); started again")
                        processes[index] = start(index)

    def _fire(self, fault: Fault) -> None:
        self.note(f"{fault.kind} #{fault.target} for {fault.seconds} s")
        if fault.kind == "kill_worker":
            self.workers[fault.target].kill()
            self.workers[fault.target].wait()
            self.cut_at[fault.target] = time.time()
            time.sleep(min(fault.seconds, 3))
            self.workers[fault.target] = self.worker(fault.target)
        elif fault.kind == "kill_bridge":
            self.bridges[fault.target].kill()
            self.bridges[fault.target].wait()
            time.sleep(min(fault.seconds, 3))
            self.bridges[fault.target] = self.bridge(fault.target)
        elif fault.kind == "restart_temporal":
            self.temporal.stop()
            time.sleep(min(fault.seconds, 5))
            self.temporal.start()
        elif fault.kind == "webhook_down":
            self.standin.behaviour.unavailable.update({HASH_CHECK, COMPLETION, MIXING_COMPLETE})
            time.sleep(fault.seconds)
            self.standin.behaviour.unavailable.clear()
        elif fault.kind == "webhook_refusing":
            status = (500, 429, 401)[round(fault.seconds) % 3]
            for path in (HASH_CHECK, COMPLETION):
                self.standin.fail_next(path, *[status] * 3)
        elif fault.kind == "s3_errors":
            self.proxy.faults.get_statuses.extend([503] * round(fault.seconds))
        elif fault.kind == "webhook_slow":
            paths = (HASH_CHECK, COMPLETION, MIXING_COMPLETE)
            for path in paths:
                self.standin.delay_next(path, *[fault.seconds] * 3)
            # A slow spell, not a standing order: a path as rare as a mix's webhook would meet its held answers
            # minutes later, each one past the sender's timeout, and its retries back off past the run's end.
            spell = threading.Timer(3 * fault.seconds, self.standin.forget_delays, paths)
            spell.daemon = True
            spell.start()
        elif fault.kind == "s3_slow":
            self.proxy.faults.get_delays.extend([fault.seconds] * 3)
        elif fault.kind == "rolling_deploy":
            began = time.time()
            for index in range(len(self.workers)):
                self.stop_worker(index)
                self.worker_scripts[index] = PATCHED_WORKER
                self.workers[index] = self.worker(index)
                time.sleep(fault.seconds)
            self.mixed_fleet = (began, time.time())
            self.note("rolling deploy done")


def run(seed: int, minutes: float, work: Path, log: Callable[[str], None] = print,
        bridge_script: str = "sqs_bridge.py") -> list[str]:
    """The run; returns the violations (none when every invariant holds). `bridge_script`: what the bridges run,
    for a defect put in on purpose."""
    the_plan = plan(seed, minutes)
    log(f"chaos seed {seed}: {len(the_plan.stems)} stems, {len(the_plan.mixes)} mixes, {len(the_plan.poison)} poison "
        f"messages, {len(the_plan.faults)} faults over {minutes} min")
    temporal = TemporalDevServer(port=free_port(), ui_port=free_port(), db_file=work / "temporal.db",
                                 log_file=work / "temporal.log").start()
    aws = LocalAws().start()
    proxy = FaultProxy(aws.port).start()
    bucket = f"chaos-{seed}"
    aws.create_bucket(bucket)
    dlq_url = aws.create_queue(f"chaos-{seed}-dlq")
    queue_url = aws.create_queue(f"chaos-{seed}", visibility_timeout=30, dead_letter_queue_url=dlq_url,
                                 max_receive_count=50)
    sqs = aws.sqs()
    standin = NestJsStandIn(send_to_sqs=lambda body: sqs.send_message(QueueUrl=queue_url, MessageBody=body)).start()
    env = {"TEMPORAL_ADDRESS": temporal.address, "S3_BUCKET_NAME": bucket, "SQS_QUEUE_URL": queue_url,
           "SQS_DLQ_URL": dlq_url, "WEBHOOK_URL": standin.url, "METRICS_BIND_ADDRESS": "",
           "WORKER_HEALTH_BIND_ADDRESS": "", "BRIDGE_HEALTH_BIND_ADDRESS": "", "SQS_WAIT_TIME_SECONDS": "1",
           "SQS_VISIBILITY_TIMEOUT_SECONDS": "10", "DEDUPE_DECISION_TIMEOUT_SECONDS": str(DECISION_TIMEOUT_SECONDS),
           "WEBHOOK_TIMEOUT_SECONDS": "3", "LOG_LEVEL": "INFO"}
    chaos = Chaos(the_plan, work, temporal, aws, proxy, standin, bucket, queue_url, dlq_url, env, bridge_script)
    try:
        chaos.workers = [chaos.worker(index) for index in range(2)]
        chaos.bridges = [chaos.bridge(index) for index in range(2)]
        faults = threading.Thread(target=_fire_on_time, args=(chaos,), daemon=True)
        faults.start()
        supervised = threading.Event()
        supervisor = threading.Thread(target=_supervise, args=(chaos, supervised), daemon=True)
        supervisor.start()
        _send_workload(chaos)
        faults.join()
        _wait_for_the_end(chaos)
        supervised.set()
        supervisor.join()
        chaos.note("workload ended" if _all_ended(chaos) else "gave up waiting for the workload")
        time.sleep(3)  # a redelivered copy in flight may still be handed over: it must change nothing
        violations = asyncio.run(_check(chaos))
        if violations:
            try:
                asyncio.run(_explain(chaos, violations, log))
            except Exception as error:  # the violations and the timeline are printed all the same
                log(f"could not fetch the histories: {error!r}")
        for process in chaos.bridges:
            stop_process(process)
        for index in range(len(chaos.workers)):
            chaos.stop_worker(index)
        violations += _check_temp_areas(chaos, log)
    finally:
        for process in chaos.bridges + chaos.workers:
            stop_process(process)
        standin.stop()
        proxy.stop()
        aws.stop()
        temporal.stop()
    log("fault timeline:\n" + "\n".join(chaos.timeline))
    log("\n".join(violations) if violations else "no invariant violated")
    return violations


def _supervise(chaos: Chaos, done: threading.Event) -> None:
    while not done.wait(1.0):
        chaos.supervise()


def _fire_on_time(chaos: Chaos) -> None:
    for fault in chaos.plan.faults:
        time.sleep(max(0.0, fault.at - (time.monotonic() - chaos.started)))
        chaos.fire(fault)


def _send_workload(chaos: Chaos) -> None:
    the_plan = chaos.plan
    rng = random.Random(the_plan.seed + 1)
    chaos.contents = {stem.stem_id: audio(the_plan.seed * 100_000 + index)
                      for index, stem in enumerate(the_plan.stems)}
    contents = chaos.contents
    for stem in the_plan.stems:
        if stem.kind == "not_audio":  # each its own bytes, or the server would call them duplicates
            chaos.put(stem.key, b"\x89PNG\r\n\x1a\n" + stem.stem_id.encode() + bytes(400))
        elif stem.kind != "missing_then_rerun":
            chaos.put(stem.key, contents[stem.twin_of or stem.stem_id])
        if stem.kind in UNDECIDED_KINDS:
            chaos.standin.behaviour.undecided_stems.add(stem.stem_id)
    mix_keys: dict[str, list[str]] = {}
    for stage_id, good in the_plan.mixes.items():
        keys = [f"uploads/mixes/{stage_id}/{part}.wav" for part in range(rng.randrange(2, 4))]
        for part, key in enumerate(keys):
            chaos.put(key, audio(the_plan.seed * 100_000 + 90_000 + part) if good or part else b"not audio at all")
        mix_keys[stage_id] = keys
    items: list[tuple[str, str]] = [("stem", stem.stem_id) for stem in the_plan.stems]
    items += [("mix", stage_id) for stage_id in the_plan.mixes] + [("poison", body) for body in the_plan.poison]
    rng.shuffle(items)
    stems = {stem.stem_id: stem for stem in the_plan.stems}
    gap = the_plan.send_over / len(items)
    for what, name in items:
        if what == "stem":
            stem = stems[name]
            kwargs = {"userId": "u", "trackId": "t", "stemId": stem.stem_id, "filepath": stem.key,
                      "original_filename": f"{stem.stem_id}.wav"}
            body = envelope("generate_hash_and_webhook", kwargs, f"hash-{stem.stem_id}-1", stem.envelope)
            for _ in range(2 if stem.redelivered else 1):
                chaos.send(body)
            if stem.kind == "missing_then_rerun":
                chaos.awaiting_rerun.append(stem)
            elif stem.kind == "late":
                chaos.awaiting_late_decision.append(stem)
            elif stem.kind == "cancelled":
                chaos.awaiting_cancel.append(stem)
        elif what == "mix":
            chaos.send(envelope("mix_stems_and_upload", {"stageId": name, "upstreamId": f"up-{name}",
                                                          "stem_paths": mix_keys[name]}, f"mix-{name}-1", "task"))
        else:
            chaos.send(name)
        time.sleep(gap)
        _follow_up(chaos)


def _follow_up(chaos: Chaos) -> None:
    """What the server and an operator do once a stem got where they wait for: a fresh hash request for a stem whose
    first run failed for want of its object, a decision after the timeout, a cancel of a stem awaiting its
    decision."""
    for stem in [stem for stem in chaos.awaiting_rerun if _outcomes(chaos, stem.stem_id)]:
        chaos.awaiting_rerun.remove(stem)
        chaos.put(stem.key, chaos.contents[stem.stem_id])
        kwargs = {"userId": "u", "trackId": "t", "stemId": stem.stem_id, "filepath": stem.key}
        chaos.send(envelope("generate_hash_and_webhook", kwargs, f"hash-{stem.stem_id}-2", stem.envelope))
    for stem in [stem for stem in chaos.awaiting_late_decision if _outcomes(chaos, stem.stem_id)]:
        chaos.awaiting_late_decision.remove(stem)
        chaos.standin.decide(stem.stem_id)
    hash_checked = {item.body["stemId"] for item in chaos.standin.unique_accepted(HASH_CHECK).values()}
    for stem in [stem for stem in chaos.awaiting_cancel if stem.stem_id in hash_checked]:
        if _cancel(chaos, stem):
            chaos.awaiting_cancel.remove(stem)
        elif _outcomes(chaos, stem.stem_id):  # Temporal was away until the run had timed out waiting
            chaos.awaiting_cancel.remove(stem)
            chaos.missed_cancels.add(stem.stem_id)
            chaos.note(f"cancel of stem-{stem.stem_id} came after its run ended")


def _cancel(chaos: Chaos, stem: StemPlan) -> bool:
    """The README's cancel command; False when it did not get through (Temporal restarting), to be tried again."""
    command = [temporal_cli(), "workflow", "cancel", "--workflow-id", f"stem-{stem.stem_id}",
               "--address", chaos.temporal.address]
    try:
        done = subprocess.run(command, capture_output=True, timeout=8)
    except subprocess.TimeoutExpired:
        return False
    if done.returncode == 0:
        chaos.note(f"cancelled stem-{stem.stem_id} by the CLI")
    return done.returncode == 0


def _wait_for_the_end(chaos: Chaos) -> None:
    """Until every stem and mix has its outcomes, or nothing reached the server for a minute (a lost message)."""
    deadline = time.monotonic() + 600
    last, quiet_since = len(chaos.standin.received), time.monotonic()
    while not _all_ended(chaos) and time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET_SECONDS:
        time.sleep(1)
        _follow_up(chaos)
        if len(chaos.standin.received) != last:
            last, quiet_since = len(chaos.standin.received), time.monotonic()


def _outcomes(chaos: Chaos, stem_id: str) -> list[str]:
    """The stem's distinct completions, in order: SUCCESS or the FAILURE's error code."""
    return [item.body["status"] if item.body["status"] == "SUCCESS" else item.body["result"]["error_code"]
            for item in chaos.standin.unique_accepted(COMPLETION).values() if item.body["stemId"] == stem_id]


def _all_ended(chaos: Chaos) -> bool:
    mixes = {item.body["stageId"] for item in chaos.standin.unique_accepted(MIXING_COMPLETE).values()}
    return (all(len(_outcomes(chaos, stem.stem_id)) >= len(stem.expected) for stem in chaos.plan.stems)
            and set(chaos.plan.mixes) <= mixes)


async def _check(chaos: Chaos) -> list[str]:
    violations: list[str] = []
    the_plan = chaos.plan
    deleted = {item.body["result"]["filepath"] for item in chaos.standin.unique_accepted(COMPLETION).values()
               if item.body["status"] == "SUCCESS" and item.body["result"].get("status") == "duplicate_file_deleted"}
    for stem in the_plan.stems:
        outcomes = _outcomes(chaos, stem.stem_id)
        if stem.kind == "duplicate" or any(other.twin_of == stem.stem_id for other in the_plan.stems):
            completions = [item.body for item in chaos.standin.unique_accepted(COMPLETION).values()
                           if item.body["stemId"] == stem.stem_id]
            if [body["status"] for body in completions] != ["SUCCESS"]:
                violations.append(f"{stem.stem_id}: completions {outcomes}, expected one SUCCESS")
        elif stem.key in deleted:
            violations.append(f"{stem.stem_id} ({stem.kind}): deleted as a duplicate of no other stem's bytes")
        elif outcomes != (["decision_timeout"] if stem.stem_id in chaos.missed_cancels else stem.expected):
            violations.append(f"{stem.stem_id} ({stem.kind}): completions {outcomes}, expected {stem.expected}")
    for group in _twin_groups(the_plan):
        kept = [stem for stem in group if stem.key not in deleted]
        if len(kept) != 1:
            violations.append(f"byte-identical stems {[stem.stem_id for stem in group]}: {len(kept)} kept, not 1")
    mixes: dict[str, list[str]] = {}
    for item in chaos.standin.unique_accepted(MIXING_COMPLETE).values():
        mixes.setdefault(item.body["stageId"], []).append(item.body["status"])
    for stage_id, good in the_plan.mixes.items():
        if mixes.get(stage_id) != ["SUCCESS" if good else "FAILURE"]:
            violations.append(f"{stage_id}: mixing-complete {mixes.get(stage_id)}, expected one "
                              f"{'SUCCESS' if good else 'FAILURE'}")
    s3 = chaos.aws.s3()
    for key, digest in chaos.originals.items():
        try:
            body = s3.get_object(Bucket=chaos.bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            if key not in deleted:
                violations.append(f"{key}: deleted, but no completion reported it deleted as a duplicate")
            continue
        if key in deleted:
            violations.append(f"{key}: reported deleted as a duplicate, still in S3")
        elif hashlib.sha256(body).hexdigest() != digest:
            violations.append(f"{key}: changed")
    for body in _dead_letters(chaos):
        if body not in the_plan.poison:
            violations.append(f"a valid message in the dead-letter queue: {body[:120]}")
    client = await Client.connect(chaos.temporal.address, data_converter=pydantic_data_converter)
    running = "ExecutionStatus = 'Running' AND WorkflowType != 'CleanupTempFilesWorkflow'"
    for _ in range(30):  # a run ends a moment after its last webhook
        if not [execution async for execution in client.list_workflows(running)]:
            break
        await asyncio.sleep(1)
    async for execution in client.list_workflows(running):
        violations.append(f"{execution.id}: still running at the end")
    async for execution in client.list_workflows():
        events = [event async for event in client.get_workflow_handle(
            execution.id, run_id=execution.run_id).fetch_history_events()]
        if len(events) > MAX_EVENTS_PER_RUN:
            violations.append(f"{execution.id}: {len(events)} history events, over {MAX_EVENTS_PER_RUN}")
        _note_files_left_to_the_sweep(chaos, execution.id, events)
        for event in events:
            if (event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED and
                    event.workflow_task_failed_event_attributes.cause
                    == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
                    and not _patched_run_on_todays_worker(chaos, events, event.event_time.ToMicroseconds() / 1e6)):
                violations.append(f"{execution.id}: non-determinism at event {event.event_id}")
    return violations


def _note_files_left_to_the_sweep(chaos: Chaos, workflow_id: str, events: list[HistoryEvent]) -> None:
    hosts = {event.event_id: event.workflow_task_started_event_attributes.identity for event in events
             if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            host = hosts.get(event.workflow_task_timed_out_event_attributes.started_event_id, "")
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            host = hosts.get(event.workflow_task_failed_event_attributes.started_event_id, "")
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED \
                and event.workflow_execution_signaled_event_attributes.signal_name == "host_left":
            host = json.loads(event.workflow_execution_signaled_event_attributes.input.payloads[0].data)
        else:
            continue
        for index in range(len(chaos.workers)):
            if host.endswith(f"@host-{index}"):
                chaos.left_to_the_sweep[index].add(workflow_id.removeprefix("stem-"))


async def _explain(chaos: Chaos, violations: list[str], log: Callable[[str], None]) -> None:
    """For each stem or mix a violation names: the webhooks it got and each run's history, on the timeline's clock."""
    client = await Client.connect(chaos.temporal.address, data_converter=pydantic_data_converter)
    started = time.time() - (time.monotonic() - chaos.started)
    for name in dict.fromkeys(re.findall(r"\b(s\d{4}|mix\d{3})\b", "\n".join(violations))):
        lines = [(item.received_at - started, 0, f"{item.path} {item.status} {item.raw_body[:160]!r}")
                 for item in chaos.standin.received if name.encode() in item.raw_body]
        async for execution in client.list_workflows(f"WorkflowId = 'stem-{name}' OR WorkflowId STARTS_WITH "
                                                     f"'mix-{name}'"):
            async for event in client.get_workflow_handle(execution.id, run_id=execution.run_id
                                                          ).fetch_history_events():
                lines.append((event.event_time.ToMicroseconds() / 1e6 - started, event.event_id,
                              f"{execution.id} {execution.run_id[:8]} #{event.event_id} "
                              f"{EventType.Name(event.event_type)}"))
        log(f"{name}:\n" + "\n".join(f"{at:7.1f} s  {text}" for at, _, text in sorted(lines)))


def _patched_run_on_todays_worker(chaos: Chaos, events: list[Any], at: float) -> bool:
    """The one non-determinism the README expects: during the rolling deploy, a run started by the patched build
    whose workflow task went to a worker still on today's build (retried until a patched worker takes it)."""
    if chaos.mixed_fleet is None or not took_the_patch(events):
        return False
    began, ended = chaos.mixed_fleet
    return began <= at <= ended + 5


def _check_temp_areas(chaos: Chaos, log: Callable[[str], None]) -> list[str]:
    """With every run ended and the workers stopped, a temp area holds only what attempts cut off left: by a SIGKILL
    (written before that host's last kill), and the files of `Chaos.left_to_the_sweep`; and the sweep as it runs two
    hours later leaves it empty."""
    violations = []
    for index in range(len(chaos.workers)):
        area = TempArea(chaos.work / f"temp-{index}")
        leaked = [path.name for path in area.root.glob("*") if path.stat().st_mtime > chaos.cut_at[index] + 1
                  and _stem_of(path.name) not in chaos.left_to_the_sweep[index]]
        if leaked:
            violations.append(f"host-{index}: temp files written after its last kill outlived their stems: "
                              f"{leaked[:10]}")
        report = area.sweep(now=time.time() + ANY_FILE_MAX_AGE_SECONDS + 60)
        log(f"host-{index}: the sweep removed {report.removed_files} files left by killed attempts "
            f"({report.removed_bytes} bytes)")
        left = sorted(path.name for path in area.root.iterdir()) if area.root.is_dir() else []
        if left:
            violations.append(f"host-{index}: temp area not empty after the sweep: {left[:10]}")
    return violations


def _stem_of(name: str) -> str | None:
    match = OWN_FILE.match(name)
    return match["stem"] if match else None


def _dead_letters(chaos: Chaos) -> list[str]:
    sqs, bodies = chaos.aws.sqs(), []
    while messages := sqs.receive_message(QueueUrl=chaos.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                          VisibilityTimeout=300).get("Messages", []):
        bodies += [item["Body"] for item in messages]
    return bodies


def _twin_groups(the_plan: Plan) -> list[list[StemPlan]]:
    groups: dict[str, list[StemPlan]] = {}
    for stem in the_plan.stems:
        if stem.twin_of is not None:
            groups.setdefault(stem.twin_of, [next(item for item in the_plan.stems
                                                  if item.stem_id == stem.twin_of)]).append(stem)
    return list(groups.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1_000_000))
    parser.add_argument("--minutes", type=float, default=3.0)
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix=f"waveflow-chaos-{arguments.seed}-"))
    raise SystemExit(1 if run(arguments.seed, arguments.minutes, work) else 0)


if __name__ == "__main__":
    main()
