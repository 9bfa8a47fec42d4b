"""A webhook server down for minutes: what it costs each waiting stem's history, and whether decisions wait.

Starts the embedded stack (Temporal dev server, moto, the NestJS stand-in, `worker.py` and `sqs_bridge.py` as
processes), makes the stand-in answer every hash-check with 503 for `--outage` seconds, sends `--stems` hash
requests, and, during the outage, gives a third of the stems their decision by the `decide` update at each of
three moments (as a server with a Temporal client would), timing each answer. When the server is back, every
stem must complete once. Prints the history events and workflow tasks per stem and the update latencies.

    .venv/bin/python bench/webhook_outage.py [--stems 30] [--outage 600]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.embedded import COMPLETION, HASH_CHECK, bench_stack, hash_message, percentile, small_stem
from temporal_client import connect
from waveflow.contract import DedupeDecision
from workflows.stem_ingest import StemIngestWorkflow


async def decide_during_outage(client: Client, stem_ids: list[str], outage: float) -> list[float]:
    """Seconds each `decide` update took, sent to a third of the stems at 1/6, 1/2 and 5/6 of the outage."""
    took = []
    groups = [stem_ids[index::3] for index in range(3)]
    started = time.monotonic()
    for moment, group in zip((1 / 6, 1 / 2, 5 / 6), groups, strict=True):
        await asyncio.sleep(max(0.0, started + moment * outage - time.monotonic()))
        for stem_id in group:
            handle = client.get_workflow_handle_for(StemIngestWorkflow.run, f"stem-{stem_id}")
            sent = time.monotonic()
            await handle.execute_update(StemIngestWorkflow.decide_checked,
                                        DedupeDecision(duplicate=False, filepath=f"uploads/{stem_id}.wav"))
            took.append(time.monotonic() - sent)
    return took


async def history_costs(client: Client, stem_ids: list[str]) -> tuple[list[int], list[int]]:
    """(events, workflow tasks completed) of each stem's run."""
    events, tasks = [], []
    for stem_id in stem_ids:
        history = [event async for event in client.get_workflow_handle(f"stem-{stem_id}").fetch_history_events()]
        events.append(len(history))
        tasks.append(sum(1 for event in history if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED))
    return events, tasks


async def run(stems: int, outage: float) -> None:
    with bench_stack("outage") as stack:
        stack.start("worker.py", "worker")
        stack.start("sqs_bridge.py", "bridge")
        stem_ids = [f"outage-{index:03d}" for index in range(stems)]
        for index, stem_id in enumerate(stem_ids):
            stack.put(f"uploads/{stem_id}.wav", small_stem(index))
        os.environ["TEMPORAL_ADDRESS"] = stack.temporal.address
        client = await connect()
        stack.standin.behaviour.unavailable.add(HASH_CHECK)
        for stem_id in stem_ids:
            stack.send(hash_message(stem_id))
        took = await decide_during_outage(client, stem_ids, outage)
        stack.standin.behaviour.unavailable.discard(HASH_CHECK)
        await asyncio.to_thread(stack.standin.wait_for, COMPLETION, stems, 300)
        events, tasks = await history_costs(client, stem_ids)
    refused = sum(1 for item in stack.standin.received if item.path == HASH_CHECK and item.status == 503)
    completions = stack.standin.accepted(COMPLETION)
    print(f"stems: {stems}   outage: {outage:.0f} s   hash-checks refused: {refused}   "
          f"completions: {len(completions)} ({sum(item.body['status'] == 'SUCCESS' for item in completions)} SUCCESS)")
    print(f"history events per stem: median {statistics.median(events):.0f}   max {max(events)}")
    print(f"workflow tasks per stem: median {statistics.median(tasks):.0f}   max {max(tasks)}")
    print(f"decide update during the outage: p50 {percentile(took, 0.5):.2f} s   max {max(took):.2f} s "
          f"({len(took)} updates)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stems", type=int, default=30)
    parser.add_argument("--outage", type=float, default=600.0, help="seconds the webhook server answers 503")
    args = parser.parse_args()
    asyncio.run(run(args.stems, args.outage))


if __name__ == "__main__":
    main()
