"""The alert rules and the Grafana dashboard: valid PromQL, alerts that fire when they should (promtool's unit
tests), and only metrics that a real run's `/metrics` serves; the names follow Prometheus conventions; an expected
failure (a file that is no audio) is one log line."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
import yaml
from temporalio.client import Client, WorkflowFailureError

from devstack.node_packages import run
from devstack.processes import ROOT, free_port, spawn, stop_process
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, Stack, hash_request, webhooks
from tests.installed_tools import promtool

OBSERVABILITY = ROOT / "observability"
ALERT_RULES = OBSERVABILITY / "prometheus-alerts.yml"
ALERT_TESTS = OBSERVABILITY / "prometheus-alerts.test.yml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
PROMQL_WORDS = {"sum", "rate", "increase", "irate", "delta", "deriv", "by", "without", "on", "ignoring", "and",
                "or", "unless", "histogram_quantile", "max", "min", "avg", "count", "absent", "max_over_time",
                "min_over_time", "avg_over_time", "clamp_min", "le", "bool", "offset", "group_left", "topk",
                "vector", "time", "label_replace", "sum_over_time", "last_over_time", "absent_over_time", "scalar"}
SERVED_ONLY_AFTER_A_FAILURE = {"temporal_workflow_task_execution_failed_total"}
"""The SDK creates this counter at a workflow task's first failure, which a healthy run never has; its name and its
`failure_reason` label are Temporal's documented ones (docs.temporal.io, "Troubleshoot Workflow and Activity
execution failures")."""
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERT_RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def expressions() -> list[str]:
    return alert_expressions() + dashboard_expressions()


def markdown_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a document's headings."""
    return {re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def test_every_alert_links_a_runbook_section_that_exists() -> None:
    rules = [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]]
    anchors = markdown_anchors(RUNBOOKS.read_text())
    for rule in rules:
        link = rule["annotations"].get("runbook_url", "")
        path, _, anchor = link.partition("#")
        assert (ROOT / path).resolve() == RUNBOOKS.resolve(), f"{rule['alert']}: runbook_url {link!r}"
        assert anchor == rule["alert"].lower() and anchor in anchors, f"{rule['alert']}: no section {anchor!r}"


def test_alert_rules_fire_when_they_should_and_every_query_is_valid_promql(tmp_path: Path) -> None:
    tool = promtool()
    tested = run([tool, "test", "rules", ALERT_TESTS.name], OBSERVABILITY)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    alerts = {rule["alert"] for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]}
    covered = {case["alertname"] for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
               for case in test["alert_rule_test"]}
    assert alerts == covered, f"alerts without a promtool test: {sorted(alerts - covered)}"
    # promtool has no check for a bare query: the dashboard's, as recording rules, are checked as rules are.
    # The variables as "All" selects them.
    queries = [expr.replace("$namespace", ".*").replace("$pod", ".*") for expr in dashboard_expressions()]
    panels = {"groups": [{"name": "dashboard", "rules": [{"record": f"waveflow:dashboard:{index}", "expr": expr}
                                                          for index, expr in enumerate(queries)]}]}
    (tmp_path / "dashboard-rules.yml").write_text(yaml.safe_dump(panels))
    checked = run([tool, "check", "rules", str(tmp_path / "dashboard-rules.yml")], tmp_path)
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-2000:]


def test_every_dashboard_query_follows_the_namespace_and_pod_picked() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert {variable["name"] for variable in dashboard["templating"]["list"]} >= {"namespace", "pod"}
    for expr in dashboard_expressions():
        without_grouping = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
        selectors = re.findall(r"\b(?:waveflow|temporal)_[a-z0-9_]+(\{[^}]*\})?(?![a-z0-9_])", without_grouping)
        unfiltered = [found for found in selectors if 'namespace=~"$namespace"' not in found
                      or 'pod=~"$pod"' not in found]
        assert selectors and not unfiltered, expr


def referenced_metrics(expression: str) -> set[str]:
    without_grouping = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expression)
    without_labels = re.sub(r"\{[^}]*\}", "", without_grouping)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    without_strings = re.sub(r'"[^"]*"', "", without_ranges)
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", without_strings))
    return {name for name in names if name not in PROMQL_WORDS and not name.isdigit()
            and not re.fullmatch(r"\d+[smhd]", name) and ("_" in name)}


def served_names(exposition: str) -> set[str]:
    """Sample names (with `_bucket`, `_sum`, `_count`, `_total`) and the family names of TYPE lines."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            family, kind = line.split()[2:4]
            names.add(family)
            names.update({"counter": [f"{family}_total"],
                          "histogram": [f"{family}_bucket", f"{family}_sum", f"{family}_count"]}.get(kind, []))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


async def scrape(http: httpx.AsyncClient, url: str) -> str:
    for _ in range(150):
        try:
            response = await http.get(url)
            if response.status_code == 200:
                return response.text
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"nothing served at {url}")


async def test_every_metric_the_alerts_and_dashboard_use_is_served(stack: Stack, client: Client,
                                                                  tmp_path: Path) -> None:
    dlq_url = stack.aws.create_queue(f"{stack.bucket}-dlq")
    worker_address, bridge_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {**stack.env(), "METRICS_BIND_ADDRESS": worker_address, "BRIDGE_HEALTH_BIND_ADDRESS": bridge_address,
           "SQS_DLQ_URL": dlq_url}
    stack.put("uploads/observed.wav", encode(sine(1.0)))
    stack.put("uploads/not-audio.wav", b"this is a text file, not audio" * 10)
    worker = spawn("worker.py", env, tmp_path / "worker.log")
    bridge = spawn("sqs_bridge.py", env, tmp_path / "bridge.log")
    try:
        stack.send(hash_request("observed", "uploads/observed.wav"))
        stack.send(hash_request("not-audio", "uploads/not-audio.wav"))
        stack.send("this is no message WaveFlow knows")
        stack.send({"task": "app.tasks.mix_stems_and_upload", "id": "mix-observed-1", "stageId": "observed",
                    "upstreamId": "up-observed", "stem_paths": ["uploads/observed.wav", "uploads/gone.wav"]})
        await webhooks(stack, COMPLETION, count=2)
        await webhooks(stack, "/webhook/mixing-complete")
        await client.get_workflow_handle("stem-observed").result()  # its completion's activity has ended
        with pytest.raises(WorkflowFailureError):
            await client.get_workflow_handle("stem-not-audio").result()
        async with httpx.AsyncClient() as http:
            worker_metrics = await scrape(http, f"http://{worker_address}/metrics")
            bridge_metrics = await scrape(http, f"http://{bridge_address}/metrics")
    finally:
        stop_process(bridge)
        stop_process(worker)
    log = (tmp_path / "worker.log").read_text()
    above_info = [json.loads(line)["message"] for line in log.splitlines() if '"level": "INFO"' not in line]
    assert sorted(above_info) == ["not_audio: not an audio file: looks like text",
                                  "object_not_found: the file 'uploads/gone.wav' does not exist in S3"], \
        "an expected failure is one line"
    assert "Traceback" not in log
    served = served_names(worker_metrics) | served_names(bridge_metrics)
    used = set().union(*(referenced_metrics(expression) for expression in expressions()))
    assert {"waveflow_stem_duration_seconds_bucket", "waveflow_webhook_attempts_total", "temporal_num_pollers",
            "waveflow_bridge_dead_letter_queue_messages", "waveflow_bridge_handover_seconds_bucket",
            "temporal_activity_schedule_to_start_latency_seconds_bucket"} <= used, sorted(used)
    assert not used - served - SERVED_ONLY_AFTER_A_FAILURE, f"referenced but not served: {sorted(used - served)}"
    assert {"waveflow_mixes_completed_total", "waveflow_bridge_oldest_message_age_seconds",
            "waveflow_temp_disk_used_bytes", "waveflow_temp_disk_budget_bytes"} <= used & served
    # Prometheus conventions: every counter ends in _total, every duration histogram in _seconds.
    for exposition in (worker_metrics, bridge_metrics):
        for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE):
            if kind == "counter":
                assert family.endswith("_total") or f"{family}_total" in exposition, family
            if kind == "histogram" and ("latency" in family or "duration" in family):
                assert family.endswith("_seconds"), family
