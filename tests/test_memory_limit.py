"""A worker at its default settings, under the memory limit `waveflow.resources` states for them, does its
heaviest work without being killed: long analyses on every core and a 32-stem mix at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from devstack.processes import spawn, stop_process
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, Stack, bridge_running, hash_request, webhooks
from tests.memory_cgroup import MemoryCgroup
from tests.test_mixing import MIXING_COMPLETE, mix_message
from waveflow.resources import default_concurrent_analyses, worker_memory_bytes

LONG_STEMS = [f"long-{index}" for index in range(default_concurrent_analyses() + 2)]
MIX_STEMS = [f"uploads/mix/{index}.flac" for index in range(32)]


@pytest.fixture
def cgroup() -> Iterator[MemoryCgroup]:
    try:
        made = MemoryCgroup.create(worker_memory_bytes(default_concurrent_analyses()))
    except OSError as error:
        pytest.skip(f"no memory cgroup can be made here: {error}")
    yield made
    made.remove()


async def test_a_worker_at_its_defaults_stays_within_the_memory_it_states(
        stack: Stack, client: Client, tmp_path: Path, cgroup: MemoryCgroup) -> None:
    for index, stem_id in enumerate(LONG_STEMS):
        stack.put(f"uploads/{stem_id}.wav", encode(sine(180.0, frequency=200.0 + 10 * index)))
    for index, key in enumerate(MIX_STEMS):
        stack.put(key, encode(sine(30.0, frequency=100.0 + 5 * index), format="FLAC"))
    worker = spawn("worker.py", stack.env(), tmp_path / "worker.log", cgroup_procs=cgroup.procs)
    samples: list[int] = []

    async def sample() -> None:
        while True:
            samples.append(cgroup.anonymous_bytes())
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    try:
        async with bridge_running(client, stack.settings):
            await asyncio.sleep(6)
            idle = cgroup.anonymous_bytes()
            for stem_id in LONG_STEMS:
                stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
            stack.send(mix_message("stage-heavy", MIX_STEMS))
            completions = await webhooks(stack, COMPLETION, len(LONG_STEMS), timeout=300)
            [mixed] = await webhooks(stack, MIXING_COMPLETE, timeout=300)
        alive = worker.poll() is None
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        stop_process(worker)
    limit = worker_memory_bytes(default_concurrent_analyses())
    peak = max(samples)
    print(f"limit {limit / 2**20:.0f} MiB for {default_concurrent_analyses()} steps at once; anonymous memory "
          f"idle {idle / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB")
    assert alive and cgroup.oom_kills() == 0
    assert all(item.body["status"] == "SUCCESS" for item in completions) and mixed.body["status"] == "SUCCESS"
    assert peak < limit
