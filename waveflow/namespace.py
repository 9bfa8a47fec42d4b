"""What a Temporal namespace must hold before WaveFlow runs in it, and the commands that set it up.

The README, docs/temporal.md and docker-compose.yml carry these commands as `python -m waveflow.namespace` prints
them; a test holds each of them to this list. Run: `python -m waveflow.namespace [NAMESPACE]`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class SearchAttribute:
    name: str
    type: str
    """Temporal's type name, as `temporal operator search-attribute create --type` spells it."""
    meaning: str


SEARCH_ATTRIBUTES = (
    SearchAttribute("WaveFlowUserId", "Keyword", "the user who uploaded the stem"),
    SearchAttribute("WaveFlowTrackId", "Keyword", "the track the stem belongs to"),
    SearchAttribute("WaveFlowStage", "Keyword", "the stem's current phase (downloading, awaiting_decision, …)"),
    SearchAttribute("WaveFlowErrorCode", "Keyword", "the error code of a failed stem"),
)
"""Set on stems with TEMPORAL_SEARCH_ATTRIBUTES=true; an unregistered one fails the stem's workflow task for ever."""

RETENTION = timedelta(days=14)
"""How long a closed stem stays in the namespace. A message for a stem whose closed run is gone starts that stem
afresh, and SQS can deliver one for up to 14 days (its longest retention, a dead-letter redrive included)."""

DEFAULT_NAMESPACE = "waveflow"


def _hours(duration: timedelta) -> str:
    return f"{int(duration.total_seconds() // 3600)}h"


def create_namespace_command(namespace: str) -> str:
    return f"temporal operator namespace create --namespace {namespace} --retention {_hours(RETENTION)}"


def register_search_attributes_command(namespace: str, attributes: tuple[SearchAttribute, ...] = SEARCH_ATTRIBUTES,
                                       *, one_line: bool = False) -> str:
    """One `--name --type` pair a line (a shell line continuation between), or all on one line for a log."""
    separator = " " if one_line else " \\\n  "
    pairs = [f"--name {attribute.name} --type {attribute.type}" for attribute in attributes]
    return separator.join([f"temporal operator search-attribute create --namespace {namespace}", *pairs])


def setup_script(namespace: str = DEFAULT_NAMESPACE) -> str:
    """The two commands an operator runs once per namespace, as the docs show them."""
    return f"{create_namespace_command(namespace)}\n{register_search_attributes_command(namespace)}\n"


def describe_retention(namespace_retention: timedelta, delivery_window: timedelta) -> str | None:
    """What a retention shorter than the window in which SQS can still deliver a message means; None when it is
    long enough."""
    if namespace_retention >= delivery_window:
        return None
    return (f"namespace retention {_hours(namespace_retention)} is shorter than the {_hours(delivery_window)} in "
            f"which SQS can still deliver a message (queue and dead-letter queue retention): a message delivered "
            f"after a stem's run left the namespace runs that stem again unless its success record in S3 holds it "
            f"back (S3_SUCCESS_RECORD_PREFIX), and a redelivered decision for a failed stem runs it again; set the "
            f"retention to {_hours(delivery_window)} or more: temporal operator namespace update "
            f"--namespace <namespace> --retention {_hours(delivery_window)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the commands that set up a namespace for WaveFlow.")
    parser.add_argument("namespace", nargs="?", default=DEFAULT_NAMESPACE)
    print(setup_script(parser.parse_args().namespace), end="")


if __name__ == "__main__":
    main()
