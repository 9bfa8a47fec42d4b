"""The README's Temporal Cloud cost table is what the recorded histories count."""

from __future__ import annotations

import re

from temporalio.client import WorkflowHistory

from devstack.processes import ROOT
from tests.cloud_actions import billable_actions

HISTORIES = ROOT / "tests" / "histories"


def test_the_readme_cost_table_matches_the_recorded_histories() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- cloud-actions -->")[1].split("<!-- /cloud-actions -->")[0]
    rows = re.findall(r"^\| `(\w+)`[^|]*\| (\d+) \|$", table, flags=re.MULTILINE)
    assert len(rows) >= 5
    for name, stated in rows:
        history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
        assert billable_actions(history) == int(stated), name


def test_the_patch_saved_one_action_and_its_version_upsert_is_free() -> None:
    analysed = WorkflowHistory.from_json("analysed", (HISTORIES / "analysed.json").read_text())
    before_the_patch = WorkflowHistory.from_json("v1", (HISTORIES / "v1" / "analysed.json").read_text())
    assert billable_actions(before_the_patch) == billable_actions(analysed) + 1, "one activity fewer, nothing added"
