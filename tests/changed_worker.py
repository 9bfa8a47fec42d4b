"""`worker.py` running tomorrow's StemIngestWorkflow: `python -m tests.changed_worker`."""

from tests.changed_workflow import StemIngestWorkflowWithAddedStep
from worker import WORKFLOWS, main
from workflows.stem_ingest import StemIngestWorkflow

if __name__ == "__main__":
    main([StemIngestWorkflowWithAddedStep, *(each for each in WORKFLOWS if each is not StemIngestWorkflow)])
