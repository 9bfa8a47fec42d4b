"""Writes the JSON Schemas of WaveFlow's wire payloads, from its pydantic models, into `schemas/`.

Run from the repository root: `.venv/bin/python examples/nestjs/generate_schemas.py`, then `npm run generate`
here to turn them into `src/generated/*.ts`. tests/test_nestjs_kit.py fails when either is out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from waveflow.contract import (
    AudioAnalysisRequest,
    CompletionPayload,
    DecisionReceipt,
    DedupeDecision,
    DuplicateFileRequest,
    HashCheckPayload,
    HashRequest,
    MixingCompletePayload,
    MixRequest,
)

SCHEMAS = Path(__file__).parent / "schemas"
MODELS: dict[str, tuple[type[BaseModel], str]] = {
    "hash-request": (HashRequest, "validation"),
    "audio-analysis-request": (AudioAnalysisRequest, "validation"),
    "duplicate-file-request": (DuplicateFileRequest, "validation"),
    "mix-request": (MixRequest, "validation"),
    "dedupe-decision": (DedupeDecision, "validation"),
    "decision-receipt": (DecisionReceipt, "serialization"),
    "hash-check-webhook": (HashCheckPayload, "serialization"),
    "completion-webhook": (CompletionPayload, "serialization"),
    "mixing-complete-webhook": (MixingCompletePayload, "serialization"),
}
"""File name → model and direction: what the server sends WaveFlow is validated, what it receives is serialized."""


def without_field_titles(schema: object) -> object:
    """Drops pydantic's per-field titles ("Stemid"), which would become one needless TypeScript alias each."""
    if isinstance(schema, list):
        return [without_field_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned = {key: without_field_titles(value) for key, value in schema.items()}
    if "properties" in cleaned:
        cleaned["properties"] = {name: {key: value for key, value in field.items() if key != "title"}
                                 for name, field in cleaned["properties"].items()}
    return cleaned


def schemas() -> dict[str, str]:
    return {f"{name}.json": json.dumps(without_field_titles(model.model_json_schema(mode=mode)), indent=2,
                                       sort_keys=True) + "\n"
            for name, (model, mode) in MODELS.items()}


def main(target: Path = SCHEMAS) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, text in schemas().items():
        (target / name).write_text(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMAS)
