"""The wire contract is held to the code: the error codes a FAILURE webhook can carry, the tasks a message names."""

from __future__ import annotations

import re
from pathlib import Path

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
