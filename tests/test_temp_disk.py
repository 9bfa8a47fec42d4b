"""A worker pod's temp volume has a hard limit, and the kubelet evicts the pod that passes it: the temp budget keeps
every host under it, with stems waiting for room and a mix too large for any host refused by name, once."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import numpy as np
import pytest
from temporalio.client import Client

from tests.audio_samples import encode
from tests.conftest import COMPLETION, HASH_CHECK, Stack, bridge_running, distinct_webhooks, hash_request, webhooks
from tests.evicting_kubelet import EvictingKubelet
from tests.test_mixing import MIXING_COMPLETE, mix_message
from waveflow.settings import Settings

MB = 1024 * 1024
BUDGET_MB = 48
LIMITS = {"temp_budget_mb": BUDGET_MB, "max_file_size_mb": 16, "max_audio_seconds": 600.0,
          "temp_admission_wait_seconds": 120.0}
SIZE_LIMIT = 50 * MB
"""The emptyDir's sizeLimit: a little above the budget, as docs/kubernetes.md sizes it."""


def limited(stack: Stack, tmp_path: Path) -> tuple[EvictingKubelet, Settings]:
    """The kubelet with its worker pods, and the bridge's settings: one configuration for both, as deployed."""
    env = {**stack.env(), **{name.upper(): str(value) for name, value in LIMITS.items()}}
    return (EvictingKubelet(env, tmp_path / "volume", SIZE_LIMIT, tmp_path),
            stack.settings.model_copy(update=LIMITS))


def minute_of_noise(seed: int) -> bytes:
    """60 s of 16-bit stereo at 44.1 kHz: 10.6 MB; five of them pass the volume's limit."""
    return encode(np.random.default_rng(seed).uniform(-0.5, 0.5, (60 * 44100, 2)))


async def waiting_for_disk(client: Client, workflow_id: str, timeout: float = 60.0) -> dict[str, object]:
    """The heartbeat of the stem's step that waits for room in the budget."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = await client.get_workflow_handle(workflow_id).describe()
        for pending in description.raw_description.pending_activities:
            if pending.heartbeat_details.payloads:
                [details] = await client.data_converter.decode(pending.heartbeat_details.payloads)
                if "waiting_for_temp_disk_seconds" in details:
                    return details
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{workflow_id} never waited for temp disk")


@pytest.mark.timeout(300)
async def test_downloads_wait_for_stems_waiting_for_decisions_and_nothing_is_evicted(
        stack: Stack, client: Client, tmp_path: Path) -> None:
    stems = [f"waiting-{index}" for index in range(5)]
    for index, stem_id in enumerate(stems):
        stack.put(f"uploads/{stem_id}.wav", minute_of_noise(index))
    stack.standin.behaviour.undecided_stems.update(stems)
    kubelet, bridge_settings = limited(stack, tmp_path)
    with kubelet.running():
        async with bridge_running(client, bridge_settings):
            for stem_id in stems:
                stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
            checked = await distinct_webhooks(stack, HASH_CHECK, 4, timeout=120)
            [last] = set(stems) - {item.body["stemId"] for item in checked.values()}
            details = await waiting_for_disk(client, f"stem-{last}")
            assert len(stack.standin.unique_accepted(HASH_CHECK)) == 4, "four downloads fill the budget"
            for stem_id in sorted(set(stems) - {last}):
                stack.standin.decide(stem_id)
            await distinct_webhooks(stack, HASH_CHECK, 5, timeout=120)
            stack.standin.decide(last)
            completions = await distinct_webhooks(stack, COMPLETION, 5, timeout=120)
    assert details["waiting_for_temp_disk_seconds"] >= 0
    assert sorted(item.body["stemId"] for item in completions.values()) == stems
    assert {item.body["status"] for item in completions.values()} == {"SUCCESS"}
    assert kubelet.evictions == 0
    assert 4 * 10 * MB < kubelet.peak_bytes <= BUDGET_MB * MB


@pytest.mark.timeout(300)
async def test_a_mix_larger_than_the_budget_fails_by_name_once_and_nothing_is_evicted(
        stack: Stack, client: Client, tmp_path: Path) -> None:
    """Three minutes of stems (32 MB) and their mix (a float temp file and the WAV, 32 MB) pass the 48 MB budget:
    the mix is refused when it has planned its output, before it writes any of it."""
    keys = [f"uploads/band/part-{index}.wav" for index in range(3)]
    for index, key in enumerate(keys):
        stack.put(key, minute_of_noise(index))
    stack.put("uploads/beside.wav", minute_of_noise(9))
    kubelet, bridge_settings = limited(stack, tmp_path)
    with kubelet.running():
        async with bridge_running(client, bridge_settings):
            stack.send(mix_message("too-large", keys))
            stack.send(hash_request("beside", "uploads/beside.wav"))
            [mixed] = await webhooks(stack, MIXING_COMPLETE, timeout=120)
            [completion] = await webhooks(stack, COMPLETION, timeout=120)
            await asyncio.sleep(2)
    assert mixed.body["status"] == "FAILURE"
    assert mixed.body["result"]["error_code"] == "temp_budget_exceeded"
    assert re.match(r"the mix needs 6\d\.\d MB of a worker host's temp disk", mixed.body["result"]["error"])
    assert "more than its budget of 48.0 MB (TEMP_BUDGET_MB)" in mixed.body["result"]["error"]
    assert len(stack.standin.accepted(MIXING_COMPLETE)) == 1
    assert not any(key.startswith("mixed/") for key in stack.object_keys())
    assert completion.body["status"] == "SUCCESS", "a stem beside it completes as usual"
    assert kubelet.evictions == 0
    assert kubelet.peak_bytes <= BUDGET_MB * MB
