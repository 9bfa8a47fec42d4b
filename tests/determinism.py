"""The determinism guard: the SDK's sandbox with its default restrictions, which refuses a workflow's reading of the
clock, randomness, the environment or files. The worker runs without a sandbox (its cost: `worker.WORKFLOW_RUNNER`),
so the tests run the workflows under this one: every recorded history replays under it, and so do the workflows'
logic tests. `ClockReadingStem` is the careless change it must refuse."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

with workflow.unsafe.imports_passed_through():
    from waveflow.contract import AnalysisResult, DedupeDecision
    from waveflow.models import DownloadedObject, StemIngestInput, StemOutcome
    from workflows.stem_ingest import StemIngestWorkflow

DETERMINISM_GUARD = SandboxedWorkflowRunner()


@workflow.defn(name="StemIngestWorkflow")
class ClockReadingStem(StemIngestWorkflow):
    """Stamps the analysis with the machine's clock instead of `workflow.now()`: replayed later, it differs."""

    @workflow.init
    def __init__(self, params: StemIngestInput) -> None:
        super().__init__(params)

    @workflow.run
    async def run(self, params: StemIngestInput) -> StemOutcome:
        return await super().run(params)

    async def _analyse(self, downloaded: DownloadedObject, decision: DedupeDecision, *, here: bool) -> AnalysisResult:
        workflow.logger.info("analysis requested at %s", datetime.now(UTC))
        return await super()._analyse(downloaded, decision, here=here)
