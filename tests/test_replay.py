"""Every recorded history replays against today's workflow code: running stems survive a deploy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.determinism import DETERMINISM_GUARD, ClockReadingStem
from waveflow.contract import AnalysisResult, DedupeDecision, DuplicateDeletedResult
from waveflow.models import DownloadedObject, StemIngestInput, StemOutcome
from worker import WORKFLOW_RUNNER
from workflows import mix_stems, stem_ingest, steps
from workflows.maintenance import CleanupTempFilesWorkflow, HealthCheckWorkflow
from workflows.mix_stems import MixStemsWorkflow
from workflows.stem_ingest import StemIngestWorkflow
from workflows.steps import remove_temp_files

HISTORY_DIR = Path(__file__).parent / "histories"
HISTORIES = sorted(HISTORY_DIR.rglob("*.json"))
"""Top level: recorded by today's code. `v1/`: stems recorded before the patch `analysis-removes-its-download`;
`v2/`: before `hash-check-runs-as-local-activity`; as stems started before each deploy still run.
`v3/`: mixes before `mix-output-keys-carry-the-run`. `v4/`: a hash-check retried locally for two minutes, its
backoff a timer, before `webhook-leaves-local-retries`. `v5/`: stems that succeeded before `records-success-in-s3`.
`v6/`: stems (and `v6/search_attributes/`) before `lean-history`, with a marker per earlier patch and the completion
as an activity. `v7/`: stems (and `v7/search_attributes/`) before `local-download`, downloaded by an activity.
`v8/`: stems (and `v8/search_attributes/`) before `local-analysis`, analysed by an activity.
`v9/`: stems (and `v9/search_attributes/`) before `combined-local-steps`, each webhook and the success record a local
activity of its own.
`search_attributes/`: today's code with TEMPORAL_SEARCH_ATTRIBUTES=true, as compose and Kubernetes run it."""
WORKFLOWS = [StemIngestWorkflow, CleanupTempFilesWorkflow, HealthCheckWorkflow, MixStemsWorkflow]


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_the_suite_covers_every_path() -> None:
    assert len(HISTORIES) >= 10
    names = {path.name.split(".")[0] for path in HISTORY_DIR.glob("*.json")}
    assert names >= {"analysed", "duplicate_deleted", "decision_timeout", "decision_only", "host_fallback",
                     "hash_check_rejected", "damaged_audio", "cancelled", "cleanup", "health", "rerun_after_failure",
                     "mixed", "mix_stem_missing", "requested_while_failing", "late_decision_refused",
                     "hash_check_past_local_retries", "host_left", "cancelled_while_downloading",
                     "cancelled_while_analysing", "mix_host_fallback"}


def patch_ids_in_code() -> set[str]:
    """Every patch the workflow code asks about: the constants passed to `workflow.patched`."""
    ids = set()
    for module in (stem_ingest, mix_stems, steps):
        source = Path(module.__file__).read_text()
        ids |= {getattr(module, name) for name in re.findall(r"workflow\.patched\((\w+)\)", source)}
    return ids


def patch_ids_in(path: Path) -> set[str]:
    return {json.loads(event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
            for event in load(path).events
            if event.HasField("marker_recorded_event_attributes")
            and event.marker_recorded_event_attributes.marker_name == "core_patch"}


def test_every_patch_in_the_code_is_carried_by_a_recorded_history() -> None:
    """A patch no recorded history carries is a path replay never checked. Those `combined-local-steps` stands for
    are carried by the histories recorded before it; today's new stems carry it alone."""
    recorded = set().union(*(patch_ids_in(path) for path in HISTORIES))
    assert len(patch_ids_in_code()) >= 4
    assert patch_ids_in_code() <= recorded, f"record a history that takes {patch_ids_in_code() - recorded}"
    assert patch_ids_in(HISTORY_DIR / "analysed.json") == {stem_ingest.COMBINED_STEPS}


def test_the_search_attribute_histories_carry_every_upsert() -> None:
    """Replayed against code that stopped upserting, these fail: the upserts are commands like any other."""
    folder = HISTORY_DIR / "search_attributes"
    assert {path.name.split(".")[0] for path in folder.glob("*.json")} >= {
        "analysed", "duplicate_deleted", "damaged_audio", "cancelled", "late_decision", "rerun_after_failure"}
    upserted = {name for path in folder.glob("*.json") for event in load(path).events
                if event.HasField("upsert_workflow_search_attributes_event_attributes")
                for name in event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields}
    assert upserted >= {"WaveFlowStage", "WaveFlowErrorCode"}


RUNNERS = {"shipped": WORKFLOW_RUNNER, "guarded": DETERMINISM_GUARD}
TRACING = ["traced", "untraced"]
"""A worker runs the tracing interceptor only when tracing is on (`temporal_client.interceptors`): both replay."""


@pytest.mark.parametrize("tracing", TRACING)
@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("path", HISTORIES, ids=[str(path.relative_to(HISTORY_DIR)) for path in HISTORIES])
async def test_recorded_history_replays(path: Path, runner: str, tracing: str) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter,
                        interceptors=[TracingInterceptor()] if tracing == "traced" else [],
                        workflow_runner=RUNNERS[runner])
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_the_guard_refuses_a_workflow_that_reads_the_clock() -> None:
    history = load(HISTORY_DIR / "analysed.json")
    unguarded = Replayer(workflows=[ClockReadingStem], data_converter=pydantic_data_converter,
                         workflow_runner=WORKFLOW_RUNNER)
    assert (await unguarded.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is None
    guarded = Replayer(workflows=[ClockReadingStem], data_converter=pydantic_data_converter,
                       workflow_runner=DETERMINISM_GUARD)
    failure = (await guarded.replay_workflow(history, raise_on_replay_failure=False)).replay_failure
    assert failure is not None and "datetime.datetime.now" in str(failure)


@workflow.defn(name="StemIngestWorkflow")
class TempRemovedBeforeAnalysis(StemIngestWorkflow):
    """A careless change: the temp files are removed before the analysis instead of after it."""

    @workflow.run
    async def run(self, params: StemIngestInput) -> StemOutcome:
        return await super().run(params)

    async def _analyse(self, downloaded: DownloadedObject, decision: DedupeDecision, *, here: bool) -> AnalysisResult:
        await remove_temp_files(self._status.stem_id, downloaded.host_task_queue, "stem")
        return await super()._analyse(downloaded, decision, here=here)

    async def _delete(self, downloaded: DownloadedObject, decision: DedupeDecision) -> DuplicateDeletedResult:
        await remove_temp_files(self._status.stem_id, downloaded.host_task_queue, "stem")
        return await super()._delete(downloaded, decision)


@pytest.mark.parametrize("name", ["analysed", "duplicate_deleted", "decision_only"])
async def test_a_reordered_workflow_fails_replay(name: str) -> None:
    replayer = Replayer(workflows=[TempRemovedBeforeAnalysis], data_converter=pydantic_data_converter,
                        workflow_runner=WORKFLOW_RUNNER)
    result = await replayer.replay_workflow(load(HISTORY_DIR / f"{name}.json"),
                                            raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError), result.replay_failure
