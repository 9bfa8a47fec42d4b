"""Tomorrow's StemIngestWorkflow, for the deploy test: one added step, guarded the way the README's "Changing
workflow code" prescribes."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from waveflow.contract import AnalysisResult, DedupeDecision
    from waveflow.models import DownloadedObject, StemIngestInput, StemOutcome
    from workflows.stem_ingest import StemIngestWorkflow

ADDED_STEP_PATCH = "memo-analysis-start"
ADDED_STEP_MEMO = "analysisStartedAt"


@workflow.defn(name="StemIngestWorkflow")
class StemIngestWorkflowWithAddedStep(StemIngestWorkflow):
    @workflow.run
    async def run(self, params: StemIngestInput) -> StemOutcome:
        # Decided once, at the start: a stem that began on older code keeps the older path to its end.
        self._with_added_step = workflow.patched(ADDED_STEP_PATCH)
        return await super().run(params)

    async def _analyse(self, downloaded: DownloadedObject, decision: DedupeDecision, *, here: bool) -> AnalysisResult:
        if self._with_added_step:
            workflow.upsert_memo({ADDED_STEP_MEMO: workflow.now().isoformat()})
        return await super()._analyse(downloaded, decision, here=here)


def took_the_patch(events: list[Any]) -> bool:
    """Whether a run's history (its events) recorded the added step's patch marker."""
    markers = [event.marker_recorded_event_attributes.details for event in events]
    return any(ADDED_STEP_PATCH.encode() in details["patch-data"].payloads[0].data
               for details in markers if "patch-data" in details)
