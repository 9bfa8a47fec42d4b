"""JSON Schemas of every SQS message WaveFlow accepts and every webhook it sends, generated from the models.

The project's one schema generator. `python -m waveflow.wire_schemas` rewrites `docs/schemas/` and the copy the
npm package `@waveflow/nestjs` ships and generates its TypeScript types and ajv validators from
(`packages/nestjs/schemas/`: the same files, plus the answer of the `decide` update); tests fail when either
checked-in set drifts from the models. Celery protocol v2 bodies are base64 and carry the same kwargs as the
envelope: no schema can describe the base64 layer, docs/contract.md does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from waveflow.contract import (
    CompletionPayload,
    DecisionReceipt,
    DedupeDecision,
    HashCheckPayload,
    MixingCompletePayload,
)
from waveflow.messages import TASK_PREFIX, Task, kwargs_model

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "docs" / "schemas"
PACKAGE_SCHEMA_DIR = ROOT / "packages" / "nestjs" / "schemas"
"""The npm package's copy: what it validates with at run time and generates its types from."""
WEBHOOK_PAYLOADS: dict[str, type[BaseModel]] = {"hash-check": HashCheckPayload, "completion": CompletionPayload,
                                                 "mixing-complete": MixingCompletePayload}
"""Path under WEBHOOK_URL → the model of its body."""


class NoKwargs(BaseModel):
    """`cleanup_temp_files` and `health_check` take no arguments; anything sent is ignored."""

    model_config = ConfigDict(extra="ignore")


def _task_name(task: Task) -> Any:
    return Literal[f"{TASK_PREFIX}{task.value}", task.value]  # type: ignore[valid-type]


def _message_schema(task: Task) -> dict[str, Any]:
    kwargs = kwargs_model(task) or NoKwargs
    title = "".join(part.title() for part in task.value.split("_"))
    envelope = create_model(
        f"{title}Envelope", __doc__=f"The task envelope: `{task.value}` with its kwargs.",
        task=(_task_name(task), ...), id=(str | None, None),
        args=(Annotated[list[Any], Field(max_length=0)], []), kwargs=(kwargs, ...))
    flat_task = (_task_name(task) | None, None) if task is Task.GENERATE_HASH else (_task_name(task), ...)
    flat = create_model(f"{title}Flat", __doc__="The kwargs alone at the top level, with the task beside them.",
                        __base__=kwargs, task=flat_task)
    schema = TypeAdapter(envelope | flat).json_schema()
    return {"title": f"SQS message: {task.value}", **schema}


def _model_schema(model: type[BaseModel], title: str, mode: Literal["validation", "serialization"]) -> dict[str, Any]:
    return {**model.model_json_schema(mode=mode), "title": title}


def wire_schemas() -> dict[str, dict[str, Any]]:
    """Relative file name under docs/schemas → its JSON Schema."""
    schemas = {f"messages/{task.value}.schema.json": _message_schema(task) for task in Task}
    for kind, payload in WEBHOOK_PAYLOADS.items():
        schemas[f"webhooks/{kind}.schema.json"] = _model_schema(payload, f"Webhook: POST {{WEBHOOK_URL}}/{kind}",
                                                                "serialization")
    schemas["signals/decide.schema.json"] = _model_schema(DedupeDecision, "Temporal signal: decide", "validation")
    return {name: {"$schema": SCHEMA_DIALECT, **schema} for name, schema in schemas.items()}


def package_schemas() -> dict[str, dict[str, Any]]:
    """Relative file name under packages/nestjs/schemas → its JSON Schema: every wire schema, and what the
    `decide` update answers (a server on the direct Temporal path reads it)."""
    receipt = _model_schema(DecisionReceipt, "Temporal update: decide (its result)", "serialization")
    return {**wire_schemas(), "updates/decide.result.schema.json": {"$schema": SCHEMA_DIALECT, **receipt}}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write(directory: Path = SCHEMA_DIR, schemas: dict[str, dict[str, Any]] | None = None) -> list[Path]:
    written = []
    for name, schema in (wire_schemas() if schemas is None else schemas).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def write_all() -> list[Path]:
    """docs/schemas and the npm package's copy (files of schemas no longer generated are removed from the copy)."""
    for stale in PACKAGE_SCHEMA_DIR.rglob("*.schema.json") if PACKAGE_SCHEMA_DIR.is_dir() else ():
        if str(stale.relative_to(PACKAGE_SCHEMA_DIR)) not in package_schemas():
            stale.unlink()
    return write(SCHEMA_DIR) + write(PACKAGE_SCHEMA_DIR, package_schemas())


if __name__ == "__main__":
    for path in write(Path(sys.argv[1])) if len(sys.argv) > 1 else write_all():
        print(path)
