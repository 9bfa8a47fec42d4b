"""Mixdown end to end on real parts (SQS → bridge → MixStemsWorkflow → S3 and the mixing-complete webhook),
checked against a reference mix computed here the plain way, whole files in memory."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import soxr
from pydantic import SecretStr
from standardwebhooks import Webhook
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from devstack.processes import TemporalDevServer
from tests.audio_samples import encode, sine
from tests.conftest import Stack, cli_env, services_running, webhooks
from waveflow.audio.analysis import analyse_file
from waveflow.contract import MixRequest
from waveflow.messages import PoisonMessageError, Task, parse_message
from workflows.mix_stems import MixStemsWorkflow, mix_workflow_id

MIXING_COMPLETE = "/webhook/mixing-complete"
SECRET = "whsec_bWl4LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmZ2hpams="


def mix_message(stage_id: str, stem_paths: list[str] | None, message_id: str | None = None,
                **extra: Any) -> dict[str, Any]:
    """What the NestJS server sends: a task envelope whose kwargs hold the stage, upstream and the stems."""
    kwargs: dict[str, Any] = {"stageId": stage_id, "upstreamId": f"up-{stage_id}", **extra}
    if stem_paths is not None:
        kwargs["stem_paths"] = stem_paths
    return {"task": "app.tasks.mix_stems_and_upload", "id": message_id or f"mixing-{stage_id}-1704103200000",
            "args": [], "kwargs": kwargs}


def reference_mix(stems: list[bytes], rate: int) -> np.ndarray:
    """The contract's rule on whole files: resample to the mix rate, mono on both sides, sum ÷ count, down to a
    0.95 peak if above, rounded to 16-bit."""
    decoded = []
    for data in stems:
        samples, sample_rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        if sample_rate != rate:
            samples = soxr.resample(samples, sample_rate, rate, quality="HQ")
        decoded.append(samples.astype(np.float64))
    mix = np.zeros((max(len(samples) for samples in decoded), 2))
    for samples in decoded:
        mix[:len(samples)] += samples
    mix /= len(stems)
    peak = np.abs(mix).max()
    if peak > 0.95:
        mix *= 0.95 / peak
    return np.rint(mix * 32767).astype(np.int64)


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


def stems_of_three_kinds() -> dict[str, bytes]:
    """Different formats, rates, channel counts and lengths; all carry one loud 100 Hz tone, so the sum ÷ 3
    peaks above 0.95 and the gain rule has to act."""
    tone = {"frequency": 100.0, "amplitude": 0.97}
    drums = sine(3.0, channels=2, **tone) + sine(3.0, channels=2, frequency=2000.0, amplitude=0.02)
    drums[:, 1] *= 0.9
    bass = sine(2.0, channels=1, sample_rate=48000, **tone)
    vox = sine(2.5, channels=1, sample_rate=22050, **tone) + sine(2.5, channels=1, sample_rate=22050,
                                                                   frequency=660.0, amplitude=0.02)
    return {"uploads/u/t/drums.wav": encode(drums),
            "uploads/u/t/bass.flac": encode(bass, format="FLAC", subtype="PCM_24", sample_rate=48000),
            "uploads/u/t/vox.mp3": encode(vox, format="MP3", subtype=None, sample_rate=22050)}


async def test_three_different_stems_make_one_mix_that_matches_the_reference(
        stack: Stack, client: Client, tmp_path: Path) -> None:
    stems = stems_of_three_kinds()
    for key, data in stems.items():
        stack.put(key, data)
    settings = stack.settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    message = mix_message("stage-1", list(stems))
    async with services_running(client, settings):
        stack.send(message)
        [webhook] = await webhooks(stack, MIXING_COMPLETE)
        handle = client.get_workflow_handle_for(
            MixStemsWorkflow.run, mix_workflow_id(MixRequest.model_validate(message["kwargs"]), message["id"]))
        outcome = await handle.result()
        status = await handle.query(MixStemsWorkflow.status)

    body = webhook.body
    Webhook(SECRET).verify(webhook.raw_body, webhook.headers)
    stamp = re.fullmatch(r"mixed/stage-1_mixed_(\d+_[0-9a-f]{12})\.wav", body["mixed_file_path"]).group(1)
    mixed = stack.get(body["mixed_file_path"])
    samples, rate = soundfile.read(io.BytesIO(mixed), dtype="int16", always_2d=True)
    expected = reference_mix(list(stems.values()), 48000)
    assert rate == 48000 and samples.shape == expected.shape == (3 * 48000, 2)
    assert np.abs(samples.astype(np.int64) - expected).max() <= 1

    assert body == {
        "stageId": "stage-1", "status": "SUCCESS", "upstreamId": "up-stage-1", "task_id": message["id"],
        "stem_count": 3, "stem_paths": list(stems), "mixed_file_path": f"mixed/stage-1_mixed_{stamp}.wav",
        "waveform_data_path": f"waveforms/stage-1_mixed_waveform_{stamp}.json",
        "waveform_detail_path": f"waveforms/stage-1_mixed_waveform_{stamp}.dat",
        "audio_data_hash": hashlib.sha256(mixed).hexdigest(), "file_size": len(mixed), "duration": 3.0,
        "sample_rate": 48000, "channels": 2, "peak": round(int(np.abs(expected).max()) / 32767, 6),
        "gain": body["gain"], "loudness_lufs": body["loudness_lufs"], "insights": body["insights"],
        "processing_time": body["processing_time"], "timestamp": body["timestamp"],
    }
    assert 0.95 < 0.95 / body["gain"] < 1.0 and body["peak"] == pytest.approx(0.95, abs=1e-4)
    assert -12.0 < body["loudness_lufs"] < -1.0 and body["processing_time"] > 0

    local = tmp_path / "mixed.wav"
    local.write_bytes(mixed)
    detail = io.BytesIO()
    analysis = analyse_file(local, num_peaks=4000, detail_samples_per_pixel=256, detail_output=detail)
    waveform = json.loads(stack.get(body["waveform_data_path"]))
    assert waveform["peaks"] == analysis.peaks and len(waveform["peaks"]) == 4000
    assert waveform["duration"] == 3.0 and waveform["sample_rate"] == 48000 and waveform["num_peaks"] == 4000
    assert (waveform["version"], waveform["channels"], waveform["bits"]) == (2, 1, 8)
    assert waveform["samples_per_pixel"] == analysis.samples_per_pixel == 36
    assert waveform["length"] == len(analysis.pixel_min)
    assert stack.get(body["waveform_detail_path"]) == detail.getvalue()
    assert analysis.insights is not None
    assert waveform["insights"] == body["insights"]
    assert body["insights"]["integrated_lufs"] == body["loudness_lufs"]
    assert body["insights"]["integrated_lufs"] == pytest.approx(analysis.insights.integrated_lufs, abs=0.01)
    assert body["insights"]["sample_peak_dbfs"] == pytest.approx(analysis.insights.sample_peak_dbfs, abs=0.01)
    assert (body["insights"]["clipped_samples"], body["insights"]["silent"]) == (0, False)

    assert sorted(stack.object_keys()) == sorted([*stems, body["mixed_file_path"], body["waveform_data_path"],
                                                  body["waveform_detail_path"]])
    assert stack.temp_files() == []
    assert len(stack.standin.accepted(MIXING_COMPLETE)) == 1
    assert outcome.webhook.model_dump(mode="json") == body
    assert status.phase == "completed" and [stem.state for stem in status.stems] == ["downloaded"] * 3
    assert [stem.audio_hash for stem in status.stems] == [hashlib.sha256(data).hexdigest() for data in stems.values()]
    assert status.outcome is not None and status.outcome.stem_formats == ["WAV", "FLAC", "MP3"]


async def test_a_redelivered_request_runs_once_and_sends_one_webhook(services: Stack, client: Client) -> None:
    services.put("uploads/a.wav", encode(sine(0.5)))
    services.put("uploads/b.wav", encode(sine(0.5, frequency=220.0)))
    message = mix_message("stage-twice", ["uploads/a.wav", "uploads/b.wav"])
    services.send(message)
    services.send(message)
    [webhook] = await webhooks(services, MIXING_COMPLETE)
    await until(lambda: services.queue_depth() == 0)
    services.send(message)
    await until(lambda: services.queue_depth() == 0)

    workflow_id = mix_workflow_id(MixRequest.model_validate(message["kwargs"]), message["id"])
    runs = [item async for item in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) == 1
    assert len(services.standin.accepted(MIXING_COMPLETE)) == 1 and webhook.body["status"] == "SUCCESS"
    assert len([key for key in services.object_keys() if key.startswith("mixed/")]) == 1


BAD_INPUTS: dict[str, tuple[list[str] | None, str, str]] = {
    "empty": ([], "no_stems", "stem_paths is empty: a mix needs at least one stem"),
    "missing": (None, "no_stems", "stem_paths is missing: a mix needs at least one stem"),
    "too-many": ([f"uploads/s{index}.wav" for index in range(33)], "too_many_stems",
                 "33 stems asked for; a mix takes at most 32"),
    "bad-key": (["uploads/good.wav", "uploads/../../etc/passwd"], "invalid_stem_path",
                "stem_paths[1] 'uploads/../../etc/passwd': filepath must not contain '.' or '..' segments"),
    "ghost": (["uploads/good.wav", "uploads/ghost.wav"], "object_not_found",
              "stem uploads/ghost.wav: the file 'uploads/ghost.wav' does not exist in S3"),
    "png": (["uploads/good.wav", "uploads/cover.wav"], "not_audio",
            "stem uploads/cover.wav: not an audio file: looks like PNG (image/png)"),
    "damaged": (["uploads/good.wav", "uploads/cut.wav"], "damaged_audio",
                "stem uploads/cut.wav: truncated WAV: header promises 176400 bytes of audio, the file holds 40000"),
}


async def test_each_bad_input_is_a_named_failure_webhook_and_leaves_nothing(services: Stack, client: Client) -> None:
    services.put("uploads/good.wav", encode(sine(1.0)))
    services.put("uploads/cover.wav", b"\x89PNG\r\n\x1a\n" + bytes(200))
    services.put("uploads/cut.wav", encode(sine(1.0))[:44 + 40000])
    for stage_id, (paths, _, _) in BAD_INPUTS.items():
        services.send(mix_message(stage_id, paths))
    received = {item.body["stageId"]: item.body for item in
                await webhooks(services, MIXING_COMPLETE, len(BAD_INPUTS))}

    for stage_id, (paths, code, error) in BAD_INPUTS.items():
        body = received[stage_id]
        assert body["status"] == "FAILURE" and body["result"] == {"error": error, "error_code": code}
        assert body["stem_paths"] == (paths or []) and body["stem_count"] == len(paths or [])
        assert body["mixed_file_path"] is None and body["audio_data_hash"] is None
        message = mix_message(stage_id, paths)
        handle = client.get_workflow_handle(mix_workflow_id(MixRequest.model_validate(message["kwargs"]),
                                                            message["id"]))
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == code
        assert (await handle.query(MixStemsWorkflow.status)).phase == "failed"
    assert services.object_keys() == ["uploads/cover.wav", "uploads/cut.wav", "uploads/good.wav"]
    assert services.temp_files() == []
    assert len(services.standin.accepted(MIXING_COMPLETE)) == len(BAD_INPUTS)


async def test_a_stem_over_the_size_limit_is_refused_before_its_download(stack: Stack, client: Client) -> None:
    settings = stack.settings.model_copy(update={"max_file_size_mb": 1})
    stack.put("uploads/small.wav", encode(sine(0.5)))
    stack.put("uploads/huge.wav", encode(sine(30.0)))
    async with services_running(client, settings):
        stack.send(mix_message("stage-huge", ["uploads/small.wav", "uploads/huge.wav"]))
        [webhook] = await webhooks(stack, MIXING_COMPLETE)
    assert webhook.body["status"] == "FAILURE"
    assert webhook.body["result"] == {"error": "stem uploads/huge.wav: the file is 5.0 MB, more than the 1 MB limit",
                                      "error_code": "file_too_large"}
    assert stack.object_keys() == ["uploads/huge.wav", "uploads/small.wav"]
    assert stack.temp_files() == []


def test_the_mix_request_parses_in_all_three_envelopes() -> None:
    kwargs = {"stageId": "stage-1", "upstreamId": "up-9",
              "stem_paths": ["uploads/u/t/drums.wav", "uploads/u/t/bass.flac", "uploads/u/t/vox.mp3"]}
    envelope = {"task": "app.tasks.mix_stems_and_upload", "id": "mixing-stage-1-1", "args": [], "kwargs": kwargs}
    flat = {"task": "mix_stems_and_upload", **kwargs}
    inner = base64.b64encode(json.dumps([[], kwargs, {}]).encode()).decode()
    celery = base64.b64encode(json.dumps({"headers": {"task": "app.tasks.mix_stems_and_upload", "id": "c-1"},
                                          "body": inner, "properties": {"body_encoding": "base64"}}).encode())
    for body, message_id in ((json.dumps(envelope), "mixing-stage-1-1"), (json.dumps(flat), None), (celery, "c-1")):
        parsed = parse_message(body)
        assert parsed.task is Task.MIX_STEMS and parsed.request is None and parsed.message_id == message_id
        assert parsed.mix == MixRequest(**kwargs)


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"stem_paths": ["uploads/a.wav"]}, "mix_stems_and_upload: stageId: Field required"),
    ({"stageId": "../stage", "stem_paths": ["uploads/a.wav"]}, "mix_stems_and_upload: stageId: Value error"),
    ({"stageId": "stage-1", "stem_paths": "uploads/a.wav"}, "mix_stems_and_upload: stem_paths: Input should be"),
])
def test_a_mix_request_without_a_usable_stage_or_list_is_poison(kwargs: dict[str, Any], reason: str) -> None:
    with pytest.raises(PoisonMessageError, match=f"^{re.escape(reason)}"):
        parse_message(json.dumps({"task": "app.tasks.mix_stems_and_upload", "id": "m-1", "args": [],
                                  "kwargs": kwargs}))


def readme_mixdown_commands() -> list[str]:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- mixdown-cli-commands -->")[1].split("<!-- /mixdown-cli-commands -->")[0]
    return [line for line in block.splitlines() if line.startswith("temporal ")]


async def test_readme_mixdown_commands_work_as_written(stack: Stack, client: Client,
                                                       temporal_server: TemporalDevServer) -> None:
    settings = stack.settings.model_copy(update={"temporal_task_queue": "waveflow",
                                                 "worker_host_id": f"cli-{stack.bucket}"})
    stack.put("uploads/u/t/drums.wav", encode(sine(0.5)))
    stack.put("uploads/u/t/bass.flac", encode(sine(0.7, channels=1, frequency=55.0), format="FLAC"))
    env = cli_env(temporal_server, STAGE_ID=f"cli-{stack.bucket}")
    failing = mix_message(f"cli-failing-{stack.bucket}", [])
    failing_id = mix_workflow_id(MixRequest.model_validate(failing["kwargs"]), failing["id"])
    commands = readme_mixdown_commands()
    assert len(commands) == 3

    async def run(command: str) -> str:
        done = await asyncio.to_thread(subprocess.run, ["bash", "-c", command], env=env, capture_output=True,
                                       text=True, timeout=120)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    async with services_running(client, settings):
        stack.send(failing)
        await webhooks(stack, MIXING_COMPLETE)
        executed = await run(commands[0])
        queried = await run(commands[1])
        listing = ""
        deadline = time.monotonic() + 30
        while failing_id not in listing and time.monotonic() < deadline:
            listing = await run(commands[2])
    assert '"status": "SUCCESS"' in executed.replace('":"', '": "')
    assert '"completed"' in queried.replace('":"', '": "') and "uploads/u/t/bass.flac" in queried
    assert failing_id in listing
    by_hand = next(item.body for item in stack.standin.accepted(MIXING_COMPLETE)
                   if item.body["stageId"] == env["STAGE_ID"])
    assert by_hand["status"] == "SUCCESS" and by_hand["task_id"] == "by-hand" and by_hand["channels"] == 2
