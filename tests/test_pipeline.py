"""The whole main path on real parts: SQS → bridge → Temporal workflow → S3 and webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.audio_samples import SAMPLE_RATE, encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, hash_request, services_running, webhooks
from tests.history_steps import steps_of
from workflows.stem_ingest import StemIngestWorkflow


async def test_new_stem_is_hashed_decided_analysed_and_completed(services: Stack, client: Client) -> None:
    audio = encode(sine(2.5, amplitude=0.5))
    services.put("uploads/user-1/track-1/drums.wav", audio)
    services.send(hash_request("stem-a1", "uploads/user-1/track-1/drums.wav", stageId="stage-9", surprise="x"))

    [hash_check] = await webhooks(services, HASH_CHECK)
    assert hash_check.body == {
        "stemId": "stem-a1", "userId": "user-1", "trackId": "track-1",
        "filepath": "uploads/user-1/track-1/drums.wav", "audio_hash": hashlib.sha256(audio).hexdigest(),
        "timestamp": "2024-01-01T10:00:00Z", "original_filename": "drums.wav", "status": "hash_generated",
        "stageId": "stage-9",
    }
    [completion] = await webhooks(services, COMPLETION)
    body = completion.body
    assert body["status"] == "SUCCESS"
    assert body["stemId"] == "stem-a1" and body["upstreamId"] == "upstream-stem-a1"
    result = body["result"]
    assert result["audio_data_hash"] == hashlib.sha256(audio).hexdigest()
    assert result["duration"] == 2.5 and result["sample_rate"] == SAMPLE_RATE
    assert result["num_peaks"] == 4000 and result["file_size"] == len(audio)
    assert body["audio_wave_path"] == result["waveform_data_path"]
    assert body["processing_time"] > 0

    waveform = json.loads(services.get(result["waveform_data_path"]))
    assert set(waveform) >= {"peaks", "duration", "sample_rate", "num_peaks", "created_at", "version", "data"}
    assert len(waveform["peaks"]) == 4000 and max(waveform["peaks"]) == 1.0
    assert waveform["duration"] == 2.5 and waveform["sample_rate"] == SAMPLE_RATE
    assert services.get(result["waveform_detail_path"])[:4] == (1).to_bytes(4, "little")
    # A 0.5 sine at 440 Hz in both channels: -6.02 dBFS at its crest, -6.7 LUFS (FFmpeg's ebur128 reads the same).
    assert waveform["insights"] == result["insights"]
    assert result["insights"]["true_peak_dbtp"] == pytest.approx(-6.02, abs=0.2)
    assert result["insights"]["integrated_lufs"] == pytest.approx(-6.7, abs=0.1)
    assert result["insights"]["leading_silence_seconds"] < 0.01 and not result["insights"]["silent"]
    assert "uploads/user-1/track-1/drums.wav" in services.object_keys()
    assert services.temp_files() == []

    handle = client.get_workflow_handle_for(StemIngestWorkflow.run, "stem-stem-a1")
    outcome = await handle.result()
    assert outcome.completion.model_dump(mode="json") == body
    status = await handle.query(StemIngestWorkflow.status)
    assert status.phase == "completed" and status.audio_hash == result["audio_data_hash"]
    events = [event async for event in handle.fetch_history_events()]
    assert steps_of(events) == [("download_small_and_send_hash_check", "local"),
                                ("analyse_small_and_complete", "local")], \
        "a small object is downloaded and analysed locally, each with the webhook that reports it, the analysis " \
        "records the success and removes its download itself: no step of their own"
    assert sum(event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for event in events) == 2, \
        "the download and the hash-check share the first workflow task; the analysis and the completion the second"


async def test_duplicate_stem_deletes_only_its_own_object(services: Stack) -> None:
    audio = encode(sine(1.0))
    services.put("uploads/first.wav", audio)
    services.put("uploads/second.wav", audio)
    services.send(hash_request("first", "uploads/first.wav"))
    await webhooks(services, COMPLETION, 1)
    services.send(hash_request("second", "uploads/second.wav"))
    completions = await webhooks(services, COMPLETION, 2)

    second = next(item.body for item in completions if item.body["stemId"] == "second")
    assert second["status"] == "SUCCESS"
    assert second["result"] == {"status": "duplicate_file_deleted", "audio_hash": hashlib.sha256(audio).hexdigest(),
                                "filepath": "uploads/second.wav"}
    keys = services.object_keys()
    assert "uploads/first.wav" in keys and "uploads/second.wav" not in keys


async def test_the_same_message_twice_gives_one_run_and_one_hash_check(services: Stack, client: Client) -> None:
    services.standin.behaviour.send_decisions = False
    services.put("uploads/twice.wav", encode(sine(0.5)))
    message = hash_request("twice", "uploads/twice.wav")
    services.send(message)
    services.send(message)
    await webhooks(services, HASH_CHECK)
    await asyncio.sleep(2)
    assert len(services.standin.accepted(HASH_CHECK)) == 1
    runs = [item async for item in client.list_workflows("WorkflowId = 'stem-twice'")]
    assert len(runs) == 1
    assert services.queue_depth() == 0


async def test_not_audio_and_missing_object_end_in_failure_webhooks(services: Stack) -> None:
    services.put("uploads/cover.wav", b"\x89PNG\r\n\x1a\n" + bytes(200))
    services.send(hash_request("png", "uploads/cover.wav"))
    services.send(hash_request("ghost", "uploads/never-uploaded.wav"))
    completions = {item.body["stemId"]: item.body for item in
                   await webhooks(services, COMPLETION, 2)}

    ghost = completions["ghost"]
    assert ghost["status"] == "FAILURE"
    assert ghost["result"] == {"error": "the file 'uploads/never-uploaded.wav' does not exist in S3",
                               "error_code": "object_not_found"}
    png = completions["png"]
    assert png["status"] == "FAILURE" and png["result"]["error_code"] == "not_audio"
    assert png["result"]["error"].startswith("not an audio file: looks like PNG")
    assert "uploads/cover.wav" in services.object_keys()
    assert services.queue_depth() == 0
    assert services.temp_files() == []


async def test_no_decision_in_time_ends_in_failure_and_keeps_the_original(stack: Stack, client: Client) -> None:
    settings = stack.settings.model_copy(update={"dedupe_decision_timeout_seconds": 2})
    stack.standin.behaviour.send_decisions = False
    stack.put("uploads/undecided.wav", encode(sine(0.2)))
    async with services_running(client, settings):
        stack.send(hash_request("undecided", "uploads/undecided.wav"))
        [completion] = await webhooks(stack, COMPLETION)
    assert completion.body["status"] == "FAILURE"
    assert completion.body["result"] == {"error": "no duplicate decision arrived within 2 s; the original file is kept",
                                         "error_code": "decision_timeout"}
    assert "uploads/undecided.wav" in stack.object_keys()
    assert stack.temp_files() == []


async def test_too_large_is_refused_before_downloading(stack: Stack, client: Client) -> None:
    settings = stack.settings.model_copy(update={"max_file_size_mb": 1})
    stack.put("uploads/huge.wav", encode(sine(30.0)))
    async with services_running(client, settings):
        stack.send(hash_request("huge", "uploads/huge.wav"))
        [completion] = await webhooks(stack, COMPLETION)
    assert completion.body["result"]["error_code"] == "file_too_large"
    assert completion.body["result"]["error"] == "the file is 5.0 MB, more than the 1 MB limit"
    assert stack.standin.accepted(HASH_CHECK) == []
