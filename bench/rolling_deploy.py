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
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.embedded import COMPLETION, HASH_CHECK, BenchStack, bench_stack, hash_message, percentile, small_stem


def decision_message(stem_id: str) -> str:
    return json.dumps({"task": "app.tasks.process_audio_analysis", "id": f"analysis-{stem_id}-1", "args": [],
                       "kwargs": {"stemId": stem_id, "filepath": f"uploads/{stem_id}.wav", "num_peaks": 100}})


class Round:
    def __init__(self, stack: BenchStack, name: str, stems: int) -> None:
        self.stack = stack
        self.stem_ids = [f"{name}-{index:03d}" for index in range(stems)]
        for index, stem_id in enumerate(self.stem_ids):
            stack.put(f"uploads/{stem_id}.wav", small_stem(hash(name) % 10_000 + index))

    def hash_all(self) -> None:
        before = len(self.stack.standin.accepted(HASH_CHECK))
        for stem_id in self.stem_ids:
            self.stack.send(hash_message(stem_id))
        self.stack.standin.wait_for(HASH_CHECK, before + len(self.stem_ids), timeout=300)
        time.sleep(2)  # every stem has reached its wait for the decision

    def decide_all(self) -> list[float]:
        """Seconds from the decisions' send to each stem's completion."""
        standin = self.stack.standin
        before = len(standin.accepted(COMPLETION))
        sent = time.time()
        for stem_id in self.stem_ids:
            self.stack.send(decision_message(stem_id))
        standin.wait_for(COMPLETION, before + len(self.stem_ids), timeout=600)
        done = {item.body["stemId"]: item.received_at for item in standin.accepted(COMPLETION)}
        return [done[stem_id] - sent for stem_id in self.stem_ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stems", type=int, default=50)
    stems = parser.parse_args().stems
    with bench_stack("deploy", log_level="INFO") as stack:
        stack.standin.behaviour.send_decisions = False

        def start_host(name: str) -> None:
            stack.start("worker.py", name, WORKER_HOST_ID=name, TEMP_DIR=str(stack.work / name))
            stack.wait_for_line(name, "worker polling")

        stack.start("sqs_bridge.py", "bridge")
        start_host("host-a")
        kept, replaced = Round(stack, "kept", stems), Round(stack, "replaced", stems)
        kept.hash_all()
        baseline = kept.decide_all()
        replaced.hash_all()
        stack.stop(stack.processes[-1])
        start_host("host-b")
        after_deploy = replaced.decide_all()
    told = next((line for line in (stack.work / "host-a.log").read_text().splitlines() if "told to use" in line), "")
    print(f"stems per round: {stems}   host-a at shutdown: {json.loads(told)['message'] if told else '?'}")
    for name, took in (("host kept", baseline), ("host replaced", after_deploy)):
        print(f"{name:<14} decision → completion  p50 {percentile(took, 0.5):.2f} s   "
              f"p95 {percentile(took, 0.95):.2f} s")
    print(f"added by the replacement   p50 {percentile(after_deploy, 0.5) - percentile(baseline, 0.5):.2f} s   "
          f"p95 {percentile(after_deploy, 0.95) - percentile(baseline, 0.95):.2f} s")


if __name__ == "__main__":
    main()
