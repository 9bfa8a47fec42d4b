"""The mixing host dies mid-mix: any worker fetches the stems again, checks their hashes and mixes them once."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from temporalio.client import Client
from temporalio.service import RPCError

from devstack.fault_proxy import FaultProxy
from devstack.processes import spawn, stop_process
from tests.audio_samples import encode, sine
from tests.conftest import Stack, bridge_running, webhooks
from tests.test_mixing import MIXING_COMPLETE, mix_message, reference_mix
from waveflow.contract import MixRequest
from worker import running_workers
from workflows.mix_stems import MixStemsWorkflow, mix_workflow_id


async def wait_for_mix_phase(client: Client, workflow_id: str, phase: str, timeout: float = 60) -> None:
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(RPCError):
            if (await handle.query(MixStemsWorkflow.status)).phase == phase:
                return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{workflow_id} never reached {phase}")


@pytest.mark.long
async def test_mixing_host_killed_while_uploading_the_mix_falls_back_to_any_worker(
        stack: Stack, client: Client, tmp_path: Path) -> None:
    stems = {"uploads/lost/drums.wav": encode(sine(20.0, amplitude=0.5)),
             "uploads/lost/bass.flac": encode(sine(15.0, channels=1, frequency=55.0), format="FLAC")}
    for key, data in stems.items():
        stack.put(key, data)
    message = mix_message("stage-lost-host", list(stems))
    workflow_id = mix_workflow_id(MixRequest.model_validate(message["kwargs"]), message["id"])
    proxy = FaultProxy(stack.aws.port).start()
    proxy.faults.put_delays["mixed/"] = [200]
    host_a = {"WORKER_HOST_ID": "host-a", "TEMP_DIR": str(tmp_path / "host-a")}
    worker_a = spawn("worker.py", {**stack.env(), **host_a, "AWS_ENDPOINT_URL": proxy.url}, tmp_path / "a.log")
    host_b = stack.settings.model_copy(update={"worker_host_id": "host-b", "temp_dir": tmp_path / "host-b"})
    try:
        async with bridge_running(client, stack.settings):
            stack.send(message)
            await wait_for_mix_phase(client, workflow_id, "mixing")
            await asyncio.to_thread(proxy.wait_until_active, "PUT")
            worker_a.kill()
            worker_a.wait()
            async with running_workers(client, host_b):
                [webhook] = await webhooks(stack, MIXING_COMPLETE, timeout=180)
                handle = client.get_workflow_handle_for(MixStemsWorkflow.run, workflow_id)
                await handle.result()
                status = await handle.query(MixStemsWorkflow.status)
    finally:
        stop_process(worker_a)
        proxy.stop()

    body = webhook.body
    assert body["status"] == "SUCCESS"
    samples = soundfile.read(io.BytesIO(stack.get(body["mixed_file_path"])), dtype="int16", always_2d=True)[0]
    expected = reference_mix(list(stems.values()), 44100)
    assert np.abs(samples.astype(np.int64) - expected).max() <= 1
    assert status.host_task_queue == f"{stack.settings.temporal_task_queue}@host-a"
    assert [stem.state for stem in status.stems] == ["downloaded", "downloaded"]
    assert len(stack.standin.accepted(MIXING_COMPLETE)) == 1
    runs = [item async for item in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) == 1
    assert list((tmp_path / "host-b").glob("*")) == []
    assert len(list((tmp_path / "host-a").glob("waveflow-stem-mix-*"))) >= 2, "the lost host's files wait for its sweep"
