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


def analysed(recorded_by: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(recorded_by, (HISTORIES / recorded_by / "analysed.json").read_text())


def test_the_removal_patch_saved_one_action_and_its_version_upsert_is_free() -> None:
    assert billable_actions(analysed("v1")) == billable_actions(analysed("v2")) + 1, "one activity fewer, nothing added"


def test_the_local_hash_check_costs_its_workflow_task_instead_of_its_activity() -> None:
    """One action either way; the decision wait's timer, which the activity version skipped when the decision came
    before the activity's result (the stand-in's order), now always runs."""
    assert billable_actions(analysed("v5")) == billable_actions(analysed("v2")) + 1
    duplicate = WorkflowHistory.from_json("v5", (HISTORIES / "v5" / "duplicate_deleted.json").read_text())
    duplicate_before = WorkflowHistory.from_json("v2", (HISTORIES / "v2" / "duplicate_deleted.json").read_text())
    assert billable_actions(duplicate) == billable_actions(duplicate_before), "the timer ran in both"


def test_the_success_record_costs_one_local_activity() -> None:
    assert billable_actions(analysed("v6")) == billable_actions(analysed("v5")) + 1


def test_the_lean_history_saves_the_completions_activity_its_workflow_task_and_two_patch_markers() -> None:
    """The completion joins the success record's workflow task (one action for both local activities), and one
    patch marker with its version upsert stands for three."""
    before, lean = analysed("v6"), analysed("v7")
    assert billable_actions(lean) == billable_actions(before) - 1
    assert len(list(lean.events)) == len(list(before.events)) - 9


def test_the_local_download_saves_the_downloads_activity_and_a_workflow_task() -> None:
    """The download joins the hash-check's workflow task (one action for both local activities)."""
    before, local = analysed("v7"), analysed("v8")
    assert billable_actions(local) == billable_actions(before) - 1
    assert len(list(local.events)) == len(list(before.events)) - 5


def test_the_local_analysis_saves_the_analysis_activity_and_a_workflow_task() -> None:
    """The analysis joins the workflow task of the completion and the success record (one action for the three local
    activities): the activity's three events and a workflow task's three go, the analysis's marker comes."""
    before, local = analysed("v8"), analysed("v9")
    assert billable_actions(local) == billable_actions(before) - 1
    assert len(list(local.events)) == len(list(before.events)) - 5


def test_the_combined_steps_leave_two_local_activities_in_two_workflow_tasks() -> None:
    """Billed alike (local activities are one action with their workflow task), the three steps that joined others
    take three markers fewer."""
    before, today = analysed("v9"), analysed(".")
    assert billable_actions(today) == billable_actions(before)
    assert len(list(today.events)) == len(list(before.events)) - 3
