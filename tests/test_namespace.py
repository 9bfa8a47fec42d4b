"""Namespace setup as code: every shipped copy of the setup commands is the one waveflow.namespace prints, and
the search attributes the workflows set are the ones it registers."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import yaml
from temporalio.common import SearchAttributeIndexedValueType

from waveflow.namespace import (
    RETENTION,
    SEARCH_ATTRIBUTES,
    create_namespace_command,
    describe_retention,
    register_search_attributes_command,
    setup_script,
)
from workflows.search_attributes import ERROR_CODE, PHASE, TRACK_ID, USER_ID

ROOT = Path(__file__).resolve().parent.parent


def namespace_setup_block(markdown: str) -> str:
    block = markdown.split("<!-- namespace-setup -->")[1].split("<!-- /namespace-setup -->")[0]
    return block.strip().removeprefix("```bash").removesuffix("```").lstrip("\n")


def test_the_readme_and_the_temporal_doc_carry_the_generated_commands() -> None:
    assert namespace_setup_block((ROOT / "README.md").read_text(encoding="utf-8")) == setup_script("waveflow")
    assert f"```bash\n{setup_script('waveflow')}```" in (ROOT / "docs" / "temporal.md").read_text(encoding="utf-8")


def test_compose_sets_its_namespace_up_with_the_generated_commands() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    script = services["temporal-admin-tools"]["command"][0]
    assert register_search_attributes_command("default") in script
    assert create_namespace_command("default") in script
    assert f"temporal operator namespace update --namespace default --retention {RETENTION // timedelta(hours=1)}h" \
        in script


def test_every_search_attribute_a_workflow_sets_is_registered_with_its_type() -> None:
    used = {key.name: key.indexed_value_type for key in (USER_ID, TRACK_ID, PHASE, ERROR_CODE)}
    registered = {attribute.name: SearchAttributeIndexedValueType[attribute.type.upper()]
                  for attribute in SEARCH_ATTRIBUTES}
    assert used == registered


def test_the_readme_table_lists_each_search_attribute() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(WaveFlow\w+)` \| (\w+) \|", readme, flags=re.MULTILINE))
    assert rows == {attribute.name: attribute.type for attribute in SEARCH_ATTRIBUTES}


def test_a_retention_shorter_than_the_delivery_window_says_what_it_costs() -> None:
    assert describe_retention(timedelta(days=14), timedelta(days=14)) is None
    warning = describe_retention(timedelta(hours=72), timedelta(days=4))
    assert warning is not None
    assert warning.startswith("namespace retention 72h is shorter than the 96h")
    assert "runs that stem again unless its success record in S3 holds it back" in warning
    assert "--retention 96h" in warning
