"""Turns an SQS message body into a command, whichever of the three shapes of docs/contract.md it has.

Every input ends either in a `ParsedMessage` or a `PoisonMessageError` naming the reason.
"""

from __future__ import annotations

import base64
import binascii
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from waveflow.contract import AudioAnalysisRequest, DuplicateFileRequest, HashRequest, MixRequest

MAX_BODY_BYTES = 256 * 1024
_NOT_JSON = object()
TASK_PREFIX = "app.tasks."


class Task(StrEnum):
    GENERATE_HASH = "generate_hash_and_webhook"
    PROCESS_DUPLICATE = "process_duplicate_file"
    PROCESS_ANALYSIS = "process_audio_analysis"
    CLEANUP_TEMP_FILES = "cleanup_temp_files"
    HEALTH_CHECK = "health_check"
    MIX_STEMS = "mix_stems_and_upload"


_KWARGS_MODELS: dict[Task, type[BaseModel] | None] = {
    Task.GENERATE_HASH: HashRequest,
    Task.PROCESS_DUPLICATE: DuplicateFileRequest,
    Task.PROCESS_ANALYSIS: AudioAnalysisRequest,
    Task.CLEANUP_TEMP_FILES: None,
    Task.HEALTH_CHECK: None,
    Task.MIX_STEMS: MixRequest,
}


class PoisonMessageError(ValueError):
    """A body that can never become a command: retrying it cannot help."""


class ParsedMessage(BaseModel):
    task: Task
    message_id: str | None
    """The producer's own id (`id` of the envelope, `headers.id` of Celery), stable across redeliveries."""
    request: HashRequest | DuplicateFileRequest | AudioAnalysisRequest | None
    """A stem's request; None for the other tasks."""
    mix: MixRequest | None = None
    """A mixdown request (`mix_stems_and_upload`)."""
    ignored_fields: list[str]


def parse_message(body: str | bytes) -> ParsedMessage:
    """A command, or a PoisonMessageError naming why the body can never be one: whatever shape a malformed body
    has, it ends here as poison, never as an error that would fail the whole batch it came in."""
    try:
        return _parse(body)
    except PoisonMessageError:
        raise
    except Exception as error:  # parsing is pure: any other failure is the body's, and retrying cannot mend it
        raise PoisonMessageError(f"malformed message ({type(error).__name__}: {str(error)[:200]})") from None


def _parse(body: str | bytes) -> ParsedMessage:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise PoisonMessageError(f"body is {len(raw)} bytes, more than the {MAX_BODY_BYTES} allowed")
    if not raw.strip():
        raise PoisonMessageError("body is empty")
    document = _load_json(raw)
    if document is _NOT_JSON:
        document = _load_json(_b64decode(raw, "body is neither JSON nor base64 JSON"))
        if document is _NOT_JSON:
            raise PoisonMessageError("body is base64 but what it holds is not JSON")
    if not isinstance(document, dict):
        raise PoisonMessageError(f"body is a JSON {type(document).__name__}, not an object")
    if isinstance(document.get("headers"), dict) and "task" in document["headers"]:
        return _from_celery(document)
    if "kwargs" in document:
        return _build(document.get("task"), document.get("id"), document.get("kwargs"), document.get("args"))
    flat = {key: value for key, value in document.items() if key not in {"task", "id"}}
    return _build(document.get("task", Task.GENERATE_HASH.value), document.get("id"), flat, None)


def _from_celery(document: dict[str, Any]) -> ParsedMessage:
    """Celery protocol v2 as kombu puts it on SQS: the body is base64 of `[args, kwargs, embed]`."""
    headers = document["headers"]
    payload = document.get("body")
    if not isinstance(payload, str):
        raise PoisonMessageError("Celery message has no string body")
    properties = document.get("properties") or {}
    if not isinstance(properties, dict):
        raise PoisonMessageError("Celery message's properties are not an object")
    encoding = properties.get("body_encoding", "base64")
    inner = payload.encode("utf-8", "surrogatepass")
    if encoding == "base64":
        inner = _b64decode(inner, "Celery body is not base64")
    decoded = _load_json(inner)
    if not (isinstance(decoded, list) and len(decoded) >= 2):
        raise PoisonMessageError("Celery body is not [args, kwargs, embed]")
    return _build(headers.get("task"), headers.get("id"), decoded[1], decoded[0])


def _build(task_name: object, message_id: object, kwargs: object, args: object) -> ParsedMessage:
    task = _task(task_name)
    if args not in (None, []):
        raise PoisonMessageError(f"{task.value} takes keyword arguments only, got positional args")
    if not isinstance(kwargs, dict):
        raise PoisonMessageError(f"kwargs of {task.value} must be an object")
    model = _KWARGS_MODELS[task]
    if model is None:
        return ParsedMessage(task=task, message_id=_message_id(message_id), request=None, ignored_fields=sorted(kwargs))
    try:
        request = model.model_validate(kwargs)
    except ValidationError as error:
        raise PoisonMessageError(f"{task.value}: {_describe(error)}") from None
    ignored = sorted(str(key) for key in kwargs if key not in model.model_fields)
    if isinstance(request, MixRequest):
        return ParsedMessage(task=task, message_id=_message_id(message_id), request=None, mix=request,
                             ignored_fields=ignored)
    return ParsedMessage(task=task, message_id=_message_id(message_id), request=request, ignored_fields=ignored)


def _task(name: object) -> Task:
    if not isinstance(name, str):
        raise PoisonMessageError("task name is missing or not a string")
    short = name.removeprefix(TASK_PREFIX)
    try:
        return Task(short)
    except ValueError:
        raise PoisonMessageError(f"unknown task {name[:100]!r}") from None


def _message_id(value: object) -> str | None:
    return value[:200] if isinstance(value, str) and value else None


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        field = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


def _load_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _NOT_JSON


def _b64decode(raw: bytes, reason: str) -> bytes:
    try:
        return base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PoisonMessageError(reason) from None


def kwargs_model(task: Task) -> type[BaseModel] | None:
    """The model of a task's kwargs; None for the tasks that take none."""
    return _KWARGS_MODELS[task]
