"""The checked-in JSON Schemas are the models' own, and real messages and webhook bodies validate against them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import hash_request
from tests.test_messages import celery_v2
from waveflow.contract import AnalysisResult, CompletionPayload, FailureResult, HashCheckPayload
from waveflow.messages import parse_message
from waveflow.wire_schemas import SCHEMA_DIR, render, wire_schemas

REGENERATE = "run `python -m waveflow.wire_schemas` and commit docs/schemas/"
HASH = "ab" * 32


def checked_in(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def test_checked_in_schemas_are_exactly_what_the_models_generate() -> None:
    generated = wire_schemas()
    on_disk = sorted(str(path.relative_to(SCHEMA_DIR)) for path in SCHEMA_DIR.rglob("*.json"))
    assert on_disk == sorted(generated), f"schema files differ from the models' list: {REGENERATE}"
    for name, schema in generated.items():
        Draft202012Validator.check_schema(schema)
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == render(schema), f"{name} drifted: {REGENERATE}"


@pytest.mark.parametrize("body", [
    hash_request("stem-1", "uploads/a.wav", stageId="stage-1"),
    hash_request("stem-1", "uploads/a.wav")["kwargs"],
    {"task": "process_audio_analysis", "id": "analysis-stem-1-1", "args": [],
     "kwargs": {"stemId": "stem-1", "filepath": "uploads/a.wav", "audio_hash": HASH, "num_peaks": 4000}},
    {"task": "app.tasks.process_duplicate_file", "id": "duplicate-stem-1-1", "args": [],
     "kwargs": {"stemId": "stem-1", "filepath": "uploads/a.wav", "audio_hash": HASH}},
    {"task": "app.tasks.cleanup_temp_files", "id": "c-1", "args": [], "kwargs": {}},
    {"task": "health_check"},
], ids=["envelope", "flat", "analysis", "duplicate", "cleanup", "health-flat"])
def test_accepted_messages_validate_against_their_task_schema(body: dict[str, Any]) -> None:
    task = parse_message(json.dumps(body)).task.value
    Draft202012Validator(checked_in(f"messages/{task}.schema.json")).validate(body)


def test_the_celery_body_carries_the_envelope_kwargs() -> None:
    kwargs = hash_request("stem-1", "uploads/a.wav")["kwargs"]
    parsed = parse_message(celery_v2("app.tasks.generate_hash_and_webhook", kwargs))
    envelope = {"task": "generate_hash_and_webhook", "kwargs": parsed.request.model_dump(exclude_none=True)}
    Draft202012Validator(checked_in("messages/generate_hash_and_webhook.schema.json")).validate(envelope)


def test_rejected_fields_are_rejected_by_the_schema_too() -> None:
    schema = Draft202012Validator(checked_in("messages/process_duplicate_file.schema.json"))
    for kwargs in ({"stemId": "../x", "filepath": "a.wav", "audio_hash": HASH},
                   {"stemId": "s", "filepath": "a.wav", "audio_hash": "not-a-hash"},
                   {"stemId": "s", "filepath": "a.wav"}):
        assert not schema.is_valid({"task": "process_duplicate_file", "kwargs": kwargs})


def test_webhook_bodies_validate_against_the_webhook_schemas() -> None:
    hash_check = HashCheckPayload(stemId="s", userId="u", trackId=None, filepath="a.wav", audio_hash=HASH,
                                  timestamp=None, original_filename="a.wav", stageId="stage-1")
    Draft202012Validator(checked_in("webhooks/hash-check.schema.json")).validate(hash_check.model_dump(mode="json"))
    completion = Draft202012Validator(checked_in("webhooks/completion.schema.json"))
    for result in (AnalysisResult(audio_data_hash=HASH, waveform_data_path="waveforms/s.json", file_size=1,
                                  duration=1.0, sample_rate=44100, num_peaks=10, channels=2, format="wav",
                                  waveform_detail_path="waveforms/s.dat"),
                   FailureResult(error="the file 'a.wav' does not exist in S3", error_code="object_not_found")):
        body = CompletionPayload(stemId="s", userId=None, trackId=None, upstreamId=None, result=result,
                                 status="FAILURE" if isinstance(result, FailureResult) else "SUCCESS",
                                 timestamp="2024-01-01T10:00:00Z", original_filename=None, processing_time=1.5,
                                 audio_wave_path=None)
        completion.validate(body.model_dump(mode="json"))
