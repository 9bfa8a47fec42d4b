"""Re-run the stems whose current run failed, and only those: safe to run twice, or beside the bridges.

    waveflow-rerun [--query "WaveFlowErrorCode = 'object_not_found'"] [--stem ID ...] [--dry-run]

Failed runs stay listed after a re-run, so a batch reset over `ExecutionStatus = 'Failed'` would run a stem
again each time it is given, and a reset terminates a stem's current run even when it names an older one. This
looks at each stem's current run instead: a stem runs again only when that run failed, and the server refuses
the start when another re-run (a bridge's, another operator's) came first. It connects as the `temporal` CLI does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence

from temporalio.client import Client, WorkflowExecutionStatus

from temporal_client import connect
from workflows.stem_ingest import StemIngestWorkflow, rerun_failed_stem, workflow_id_for

FAILED_STEMS = f"WorkflowType = '{StemIngestWorkflow.__name__}' AND ExecutionStatus = 'Failed'"


async def failed_stems(client: Client, narrowed_by: str | None) -> AsyncIterator[str]:
    """The workflow id of every stem with a failed run the query matches, once each."""
    query = f"{FAILED_STEMS} AND ({narrowed_by})" if narrowed_by else FAILED_STEMS
    seen: set[str] = set()
    async for execution in client.list_workflows(query):
        if execution.id not in seen:
            seen.add(execution.id)
            yield execution.id


async def rerun(client: Client, workflow_ids: AsyncIterator[str], *, dry_run: bool) -> int:
    """Prints a line per stem; returns how many ran (or would run) again."""
    count = 0
    async for workflow_id in workflow_ids:
        if dry_run:
            status = (await client.get_workflow_handle(workflow_id).describe()).status
            would = status == WorkflowExecutionStatus.FAILED
            print(f"{workflow_id}: {'would run again' if would else 'left alone'} (current run "
                  f"{status.name if status else 'unknown'})")
            count += would
            continue
        handle = await rerun_failed_stem(client, workflow_id)
        if handle is None:
            print(f"{workflow_id}: left alone (its current run did not fail)")
        else:
            print(f"{workflow_id}: running again as run {handle.result_run_id}")
            count += 1
    return count


async def _given(stem_ids: Sequence[str]) -> AsyncIterator[str]:
    for stem_id in stem_ids:
        yield workflow_id_for(stem_id)


async def run(arguments: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="waveflow-rerun", description=__doc__.split("\n\n")[0])
    parser.add_argument("--query", help="a visibility clause that narrows the failed stems, e.g. "
                                        "\"CloseTime > '2026-11-28T00:00:00Z'\" or \"WaveFlowErrorCode = 'timeout'\"")
    parser.add_argument("--stem", action="append", default=[], metavar="STEM_ID",
                        help="these stems only (repeatable), instead of a query")
    parser.add_argument("--dry-run", action="store_true", help="say what would run again; start nothing")
    options = parser.parse_args(arguments)
    client = await connect()
    workflow_ids = _given(options.stem) if options.stem else failed_stems(client, options.query)
    count = await rerun(client, workflow_ids, dry_run=options.dry_run)
    print(f"{count} stem{'s' if count != 1 else ''} {'would run' if options.dry_run else 'running'} again")
    return 0


def main() -> None:
    code = asyncio.run(run(sys.argv[1:]))
    sys.stdout.flush()
    # The client's core threads can outlive the interpreter's teardown, which then aborts with a fatal
    # PyGILState_Release error (temporalio/sdk-python#300): leave without the teardown.
    os._exit(code)


if __name__ == "__main__":
    main()
