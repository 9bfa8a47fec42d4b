"""The cut-over from the Celery worker: a backlog the old producers left on the queue, every task in every
envelope they wrote, is handled exactly once when the bridge starts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections import Counter

from temporalio.client import Client

from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, distinct_webhooks, hash_request, services_running
from tests.test_messages import celery_v2


def envelope(task: str, message_id: str, kwargs: dict[str, object]) -> str:
    return json.dumps({"task": f"app.tasks.{task}", "id": message_id, "args": [], "kwargs": kwargs})


async def test_a_mixed_backlog_left_by_the_old_producers_is_handled_exactly_once(stack: Stack, client: Client) -> None:
    run = uuid.uuid4().hex[:8]
    audio = {name: encode(sine(0.3, frequency=frequency)) for name, frequency in
             (("new-envelope", 220), ("new-flat", 330), ("new-celery", 440), ("old-analysed", 550),
              ("old-duplicate", 660), ("old-duplicate-flat", 770))}
    for name, data in audio.items():
        stack.put(f"uploads/{name}.wav", data)

    def kwargs(name: str, **extra: object) -> dict[str, object]:
        return {"stemId": f"{name}-{run}", "filepath": f"uploads/{name}.wav", "userId": "user-1", **extra}

    def sha(name: str) -> str:
        return hashlib.sha256(audio[name]).hexdigest()

    hash_envelope = hash_request(f"new-envelope-{run}", "uploads/new-envelope.wav")
    backlog = [
        json.dumps(hash_envelope),
        json.dumps(hash_request(f"new-flat-{run}", "uploads/new-flat.wav")["kwargs"]),
        celery_v2("app.tasks.generate_hash_and_webhook", kwargs("new-celery"), task_id=f"celery-hash-{run}"),
        # Decisions for stems the old worker hashed: the server answered its hash-check before the switch.
        celery_v2("app.tasks.process_audio_analysis", kwargs("old-analysed", audio_hash=sha("old-analysed"),
                                                             num_peaks=100), task_id=f"celery-analysis-{run}"),
        envelope("process_duplicate_file", f"duplicate-{run}",
                 kwargs("old-duplicate", audio_hash=sha("old-duplicate"))),
        json.dumps({"task": "process_duplicate_file",
                    **kwargs("old-duplicate-flat", audio_hash=sha("old-duplicate-flat"))}),
        celery_v2("app.tasks.cleanup_temp_files", {}, task_id=f"celery-cleanup-{run}"),
        envelope("cleanup_temp_files", f"envelope-cleanup-{run}", {}),
        celery_v2("health_check", {}, task_id=f"celery-health-{run}"),
        json.dumps({"task": "health_check", "id": f"flat-health-{run}"}),
        # At-least-once delivery: the same send twice.
        json.dumps(hash_envelope),
        celery_v2("app.tasks.cleanup_temp_files", {}, task_id=f"celery-cleanup-{run}"),
    ]
    for body in backlog:
        stack.send(body)
    assert stack.queue_depth() == len(backlog)

    async with services_running(client, stack.settings):
        completions = list((await distinct_webhooks(stack, COMPLETION, 6, timeout=120)).values())
        deadline = time.monotonic() + 60
        while stack.queue_depth() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        expected_workflows = len(audio) + 4
        while True:  # visibility lags the starts a little
            executions = [item async for item in client.list_workflows(
                f"TaskQueue = '{stack.settings.temporal_task_queue}'")]
            if len(executions) >= expected_workflows or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        for execution in executions:
            await client.get_workflow_handle(execution.id, run_id=execution.run_id).result()

    assert stack.queue_depth() == 0
    stems = {f"{name}-{run}" for name in audio}
    runs = Counter(execution.id for execution in executions)
    assert runs == Counter({**{f"stem-{stem}": 1 for stem in stems},
                            f"cleanup-celery-cleanup-{run}": 1, f"cleanup-envelope-cleanup-{run}": 1,
                            f"health-celery-health-{run}": 1, f"health-flat-health-{run}": 1})
    assert sorted(item.body["stemId"] for item in completions) == sorted(stems)
    # One completion per idempotency key. The backlog's second copy of a hash request reaches its run as a signal;
    # coming in while the task that ends the run sends the completion, it has the task run and POST it again.
    assert len(stack.standin.unique_accepted(COMPLETION)) == len(stems)
    for stem in stems:
        copies = [item.body for item in stack.standin.accepted(COMPLETION) if item.body["stemId"] == stem]
        assert all(copy["result"] == copies[0]["result"] for copy in copies)
    hash_checks = sorted(item.body["stemId"] for item in stack.standin.accepted(HASH_CHECK))
    assert hash_checks == sorted(f"{name}-{run}" for name in ("new-envelope", "new-flat", "new-celery"))
    results = {item.body["stemId"]: item.body["result"] for item in completions}
    assert results[f"old-analysed-{run}"]["num_peaks"] == 100
    for name in ("old-duplicate", "old-duplicate-flat"):
        assert results[f"{name}-{run}"] == {"status": "duplicate_file_deleted", "audio_hash": sha(name),
                                            "filepath": f"uploads/{name}.wav"}
        assert f"uploads/{name}.wav" not in stack.object_keys()
    assert all(item.body["status"] == "SUCCESS" for item in completions)
