"""The wire contract is held to the code: the error codes a FAILURE webhook can carry (in the contract's table and
in the schemas), the tasks a message names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from waveflow.errors import REPORTED_CODES
from waveflow.messages import Task
from workflows.routes import ROUTES

ROOT = Path(__file__).resolve().parent.parent


def test_the_contract_lists_every_reported_error_code_and_no_other() -> None:
    contract = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    table = contract.split("### Error codes")[1].split("\n## ")[0]
    assert set(re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)) - {"error_code"} == set(REPORTED_CODES)


def test_every_task_a_message_can_name_has_a_route() -> None:
    assert set(ROUTES) == set(Task)


@pytest.mark.parametrize("webhook", ["completion", "mixing-complete"])
def test_the_webhook_schemas_enumerate_the_reported_error_codes(webhook: str) -> None:
    schema = json.loads((ROOT / "docs" / "schemas" / "webhooks" / f"{webhook}.schema.json").read_text())
    assert set(schema["$defs"]["FailureResult"]["properties"]["error_code"]["enum"]) == set(REPORTED_CODES)
