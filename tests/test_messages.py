"""Message parsing: the three body shapes of CONTRACT §1, poison messages, hostile fields, fuzzing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waveflow.contract import AudioAnalysisRequest, DuplicateFileRequest, HashRequest
from waveflow.messages import MAX_BODY_BYTES, PoisonMessageError, Task, parse_message

HASH_KWARGS = {"userId": "u1", "trackId": "t1", "stemId": "s1", "filepath": "uploads/a.wav",
               "timestamp": "2024-01-01T10:00:00Z", "original_filename": "a.wav"}
SHA = "ab" * 32


def celery_v2(task: str, kwargs: dict[str, Any], task_id: str = "c0ffee") -> str:
    """What kombu puts on SQS for `celery.send_task`: base64 JSON whose body is base64 `[args, kwargs, embed]`."""
    body = base64.b64encode(json.dumps([[], kwargs, {"callbacks": None, "errbacks": None}]).encode()).decode()
    message = {"body": body, "content-encoding": "utf-8", "content-type": "application/json",
               "headers": {"lang": "py", "task": task, "id": task_id, "root_id": task_id, "retries": 0},
               "properties": {"correlation_id": task_id, "body_encoding": "base64", "delivery_tag": "x",
                              "delivery_info": {"exchange": "", "routing_key": "celery"}}}
    return base64.b64encode(json.dumps(message).encode()).decode()


def test_task_envelope() -> None:
    parsed = parse_message(json.dumps({"task": "app.tasks.generate_hash_and_webhook", "id": "hash-s1-1",
                                       "args": [], "kwargs": HASH_KWARGS}))
    assert parsed.task is Task.GENERATE_HASH and parsed.message_id == "hash-s1-1"
    assert parsed.request == HashRequest(**HASH_KWARGS)


def test_flat_seed_json_is_a_hash_request() -> None:
    parsed = parse_message(json.dumps(HASH_KWARGS))
    assert parsed.task is Task.GENERATE_HASH and parsed.request == HashRequest(**HASH_KWARGS)


def test_flat_json_with_a_task_key() -> None:
    parsed = parse_message(json.dumps({"task": "process_duplicate_file", "stemId": "s1",
                                       "filepath": "uploads/a.wav", "audio_hash": SHA}))
    assert parsed.task is Task.PROCESS_DUPLICATE
    assert parsed.request == DuplicateFileRequest(stemId="s1", filepath="uploads/a.wav", audio_hash=SHA)


def test_celery_protocol_v2() -> None:
    kwargs = {**HASH_KWARGS, "audio_hash": SHA, "num_peaks": 4000, "upstreamId": "up-1"}
    parsed = parse_message(celery_v2("app.tasks.process_audio_analysis", kwargs, "id-9"))
    assert parsed.task is Task.PROCESS_ANALYSIS and parsed.message_id == "id-9"
    assert isinstance(parsed.request, AudioAnalysisRequest)
    assert parsed.request.num_peaks == 4000 and parsed.request.upstreamId == "up-1"


@pytest.mark.parametrize("name", ["cleanup_temp_files", "app.tasks.cleanup_temp_files", "health_check"])
def test_maintenance_tasks_with_or_without_prefix(name: str) -> None:
    parsed = parse_message(json.dumps({"task": name, "id": "m1", "args": [], "kwargs": {}}))
    assert parsed.task.value == name.removeprefix("app.tasks.") and parsed.request is None


def test_unknown_extra_kwargs_are_reported_not_fatal() -> None:
    parsed = parse_message(json.dumps({"task": "generate_hash_and_webhook", "kwargs": {**HASH_KWARGS, "x": 1}}))
    assert parsed.ignored_fields == ["x"]


def test_num_peaks_as_numeric_string_is_accepted() -> None:
    parsed = parse_message(json.dumps({"task": "process_audio_analysis",
                                       "kwargs": {**HASH_KWARGS, "num_peaks": "4000"}}))
    assert isinstance(parsed.request, AudioAnalysisRequest) and parsed.request.num_peaks == 4000


def _hash(**changes: Any) -> str:
    return json.dumps({"task": "generate_hash_and_webhook", "kwargs": {**HASH_KWARGS, **changes}})


def _analysis(**changes: Any) -> str:
    return json.dumps({"task": "process_audio_analysis", "kwargs": {**HASH_KWARGS, **changes}})


POISON = {
    "empty": ("", "body is empty"),
    "not json": ("hello there", "neither JSON nor base64 JSON"),
    "json array": ("[1, 2]", "not an object"),
    "json null": ("null", "not an object"),
    "unknown task": (json.dumps({"task": "app.tasks.mix_everything", "kwargs": {}}), "unknown task"),
    "task not a string": (json.dumps({"task": 7, "kwargs": {}}), "task name is missing"),
    "kwargs not an object": (json.dumps({"task": "health_check", "kwargs": []}), "must be an object"),
    "positional args": (json.dumps({"task": "health_check", "args": [1], "kwargs": {}}), "keyword arguments only"),
    "missing stemId": (json.dumps({"filepath": "a.wav"}), "stemId: Field required"),
    "missing filepath": (json.dumps({"stemId": "s1"}), "filepath: Field required"),
    "filepath with ..": (_hash(filepath="uploads/../../etc/passwd"), "'.' or '..' segments"),
    "filepath absolute": (_hash(filepath="/etc/passwd"), "must not start with '/'"),
    "filepath NUL": (_hash(filepath="a\x00.wav"), "control characters"),
    "filepath control": (_hash(filepath="a\n.wav"), "control characters"),
    "filepath too long": (_hash(filepath="a" * 2000), "longer than 1024 bytes"),
    "filepath URL": (_hash(filepath="https://evil.example/x.wav"), "not a URL"),
    "filepath s3 URL": (_hash(filepath="s3://other-bucket/x.wav"), "not a URL"),
    "filepath wrong type": (_hash(filepath=["a"]), "filepath: Input should be a valid string"),
    "stemId unsafe": (_hash(stemId="../../x"), "stemId must be"),
    "stemId with space": (_hash(stemId="a b"), "stemId must be"),
    "stemId too long": (_hash(stemId="s" * 200), "stemId must be"),
    "stemId object": (_hash(stemId={"a": 1}), "stemId: Input should be a valid string"),
    "num_peaks zero": (_analysis(num_peaks=0), "greater than or equal to 1"),
    "num_peaks negative": (_analysis(num_peaks=-5), "greater than or equal to 1"),
    "num_peaks huge": (_analysis(num_peaks=10**9), "less than or equal to 100000"),
    "num_peaks string": (_analysis(num_peaks="lots"), "valid integer"),
    "audio_hash not hex": (json.dumps({"task": "process_duplicate_file", "kwargs": {**HASH_KWARGS,
                                                                                      "audio_hash": "zz"}}),
                           "64 hexadecimal"),
    "huge body": (json.dumps({**HASH_KWARGS, "padding": "x" * MAX_BODY_BYTES}), "more than the"),
    "celery without body": (base64.b64encode(json.dumps({"headers": {"task": "health_check"}}).encode()).decode(),
                            "no string body"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "body"),
}


@pytest.mark.parametrize("case", list(POISON), ids=list(POISON))
def test_poison_messages_name_their_reason(case: str) -> None:
    body, reason = POISON[case]
    with pytest.raises(PoisonMessageError) as raised:
        parse_message(body)
    assert reason in str(raised.value)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_a_command_or_poison(body: bytes) -> None:
    try:
        parsed = parse_message(body)
    except PoisonMessageError:
        return
    assert parsed.task in Task


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=20)


@settings(max_examples=1500, deadline=None)
@given(st.fixed_dictionaries({}, optional={"task": st.sampled_from([t.value for t in Task]) | st.text(),
                                           "id": JSON_VALUES, "args": JSON_VALUES,
                                           "kwargs": st.dictionaries(st.sampled_from(
                                               [*HASH_KWARGS, "audio_hash", "num_peaks", "upstreamId"]),
                                               JSON_VALUES)}))
def test_structured_garbage_is_a_command_or_poison(document: dict[str, Any]) -> None:
    try:
        parsed = parse_message(json.dumps(document))
    except PoisonMessageError:
        return
    if parsed.request is not None:
        assert parsed.request.filepath[:1] != "/" and ".." not in parsed.request.filepath.split("/")


def celery_body(args: object, kwargs: object) -> str:
    return base64.b64encode(json.dumps([args, kwargs, {}]).encode()).decode()


@settings(max_examples=1500, deadline=None)
@given(st.fixed_dictionaries(
    {"headers": st.fixed_dictionaries({"task": st.just("app.tasks.generate_hash_and_webhook")},
                                      optional={"id": JSON_VALUES, "lang": JSON_VALUES, "argsrepr": JSON_VALUES}),
     "body": st.just(celery_body([], {"stemId": "s1", "filepath": "uploads/s1.wav"})) | JSON_VALUES},
    optional={"properties": JSON_VALUES | st.fixed_dictionaries({}, optional={"body_encoding": JSON_VALUES}),
              "content-type": JSON_VALUES, "content-encoding": JSON_VALUES}))
def test_every_field_of_a_celery_envelope_of_any_json_type_is_a_command_or_poison(document: dict[str, Any]) -> None:
    try:
        parsed = parse_message(json.dumps(document))
    except PoisonMessageError:
        return
    assert parsed.task is Task.GENERATE_HASH


@pytest.mark.parametrize("properties", ["base64", ["body_encoding"], 7])
def test_celery_properties_that_are_no_object_name_the_reason(properties: object) -> None:
    envelope = {"headers": {"task": "app.tasks.generate_hash_and_webhook", "id": "c-1"}, "properties": properties,
                "body": celery_body([], {"stemId": "s1", "filepath": "uploads/s1.wav"})}
    with pytest.raises(PoisonMessageError, match="properties are not an object"):
        parse_message(json.dumps(envelope))
