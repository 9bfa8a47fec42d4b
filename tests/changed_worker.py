"""`worker.py` running tomorrow's StemIngestWorkflow: `python -m tests.changed_worker`."""

from tests.changed_workflow import StemIngestWorkflowWithAddedStep
from worker import main
from workflows.maintenance import CleanupTempFilesWorkflow, HealthCheckWorkflow

if __name__ == "__main__":
    main([StemIngestWorkflowWithAddedStep, CleanupTempFilesWorkflow, HealthCheckWorkflow])
