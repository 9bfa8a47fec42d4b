"""The npm package @waveflow/nestjs (packages/nestjs), on NestJS 11 (its own lock file pins 11; the fresh app of
tests/test_nestjs_app.py gets 12): it builds to CommonJS with declarations and type-checks, its schemas are the
models' (written by waveflow/wire_schemas.py, the one generator) and its types and validators are generated from
them, it verifies webhooks WaveFlow really sent with the npm `standardwebhooks` package (a tampered body, another
secret, a stale timestamp and another kind's schema fail) and applies each `webhook-id` once; run as a real
NestJS server configured through @nestjs/config and created without `rawBody: true`, it drives stems and a mixdown
through WaveFlow with its SQS producer and its Temporal update."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client

from devstack.node_packages import run
from devstack.processes import ROOT, TemporalDevServer, free_port, stop_process
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, Stack, hash_request, services_running, webhooks
from tests.installed_tools import installed_package
from tests.test_mixing import MIXING_COMPLETE, mix_message
from waveflow.contract import CompletionPayload, FailureResult
from waveflow.signing import new_secret, signature_headers
from waveflow.wire_schemas import PACKAGE_SCHEMA_DIR, SCHEMA_DIR, package_schemas, render, wire_schemas

pytestmark = pytest.mark.xdist_group("nestjs_kit")  # its tests share one installed package

PACKAGE = ROOT / "packages" / "nestjs"
REGENERATE = "run `python -m waveflow.wire_schemas`, then `npm run generate` in packages/nestjs"


def worker_suffix() -> str:
    """One installed copy per pytest-xdist worker. The modules that share it are one xdist_group, but with
    pytest 9 and pytest-xdist 3.8 the group does not hold (xdist renames `item._nodeid`, which pytest 9 no longer
    reads), so two workers may run them at once: they must not rebuild each other's copy."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def installed_kit() -> Path:
    """The package's sources with its locked dependencies (`npm ci`), built (`dist/`) and its test programs
    compiled against the build (`dist-test/`, importing `@waveflow/nestjs` by name)."""
    installed = installed_package(PACKAGE, f"nestjs-kit-{worker_suffix()}")
    for script in ("build", "build:test"):
        done = run(["npm", "run", script], installed)
        assert done.returncode == 0, f"npm run {script}: {done.stdout[-3000:]}{done.stderr[-2000:]}"
    return installed


@pytest.fixture(scope="session")
def kit() -> Path:
    """Once per pytest worker: tests/test_nestjs_app.py packs the same build (both modules are one xdist group)."""
    return installed_kit()


def test_the_kit_type_checks_and_builds_to_commonjs_with_declarations(kit: Path) -> None:
    done = run(["npm", "run", "typecheck"], kit)
    assert done.returncode == 0, done.stdout[-3000:]
    manifest = json.loads((PACKAGE / "package.json").read_text())
    assert manifest["name"] == "@waveflow/nestjs" and not manifest.get("private")
    assert manifest["main"] == "./dist/index.js" and manifest["types"] == "./dist/index.d.ts"
    assert manifest["exports"]["."] == {"types": "./dist/index.d.ts", "default": "./dist/index.js"}
    assert (kit / "dist" / "index.js").is_file() and (kit / "dist" / "index.d.ts").is_file()
    assert "exports.WaveFlowModule" in (kit / "dist" / "index.js").read_text()  # CommonJS
    for peer in ("@nestjs/common", "@nestjs/core"):
        assert manifest["peerDependencies"][peer] == "^11.0.0 || ^12.0.0"
    installed = json.loads((kit / "node_modules" / "@nestjs" / "core" / "package.json").read_text())
    assert installed["version"].startswith("11."), "the package's own tests run on NestJS 11"


def test_the_package_version_is_the_wire_contract_version(kit: Path) -> None:
    """The contract has no version constant of its own: it is WaveFlow's release line, and the package's
    major.minor is it (WIRE_CONTRACT_VERSION)."""
    waveflow = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    contract = ".".join(waveflow.split(".")[:2])
    package = json.loads((PACKAGE / "package.json").read_text())["version"]
    assert ".".join(package.split(".")[:2]) == contract
    done = run(["node", "-e", "process.stdout.write(require('@waveflow/nestjs').WIRE_CONTRACT_VERSION)"], kit)
    assert done.stdout == contract, done.stderr


def test_the_kit_schemas_are_the_models_and_its_types_are_generated_from_them(kit: Path) -> None:
    current = package_schemas()
    on_disk = sorted(str(path.relative_to(PACKAGE_SCHEMA_DIR)) for path in PACKAGE_SCHEMA_DIR.rglob("*.json"))
    assert on_disk == sorted(current), f"packages/nestjs/schemas differs from the models' list: {REGENERATE}"
    for name, schema in current.items():
        assert (PACKAGE_SCHEMA_DIR / name).read_text(encoding="utf-8") == render(schema), f"{name}: {REGENERATE}"
    for name in wire_schemas():  # the same files as docs/schemas: one generator, one set of schemas
        assert (PACKAGE_SCHEMA_DIR / name).read_bytes() == (SCHEMA_DIR / name).read_bytes()
    for name, schema in current.items():  # the schemas of today's models, not the committed copy
        (kit / "schemas" / name).write_text(render(schema), encoding="utf-8")
    done = run(["npm", "run", "generate"], kit)
    assert done.returncode == 0, done.stderr[-2000:]

    def tree(root: Path) -> dict[str, str]:
        return {str(path.relative_to(root)): path.read_text() for path in sorted(root.rglob("*.ts"))}

    generated, committed = tree(kit / "src" / "generated"), tree(PACKAGE / "src" / "generated")
    assert generated == committed, f"src/generated is stale: {REGENERATE}"
    assert len(generated) == len(current) + 1  # a module of types per schema, and schemas.ts for the validators


def test_the_validators_check_payloads_against_the_schemas(kit: Path) -> None:
    script = """
const w = require('@waveflow/nestjs');
const refused = (check) => {
  try { check(); return false; } catch (e) { return e instanceof w.WaveFlowValidationError; }
};
const hash = 'ab'.repeat(32);
process.stdout.write(JSON.stringify({
  decision: refused(() => w.validateDecision({ duplicate: 'no', filepath: 'a.wav' })),
  goodDecision: w.validateDecision({ duplicate: false, filepath: 'a.wav', num_peaks: 4000 }).filepath,
  badStemId: refused(() => w.validateMessage('process_duplicate_file', { task: 'app.tasks.process_duplicate_file',
    id: 'x', args: [], kwargs: { stemId: '../x', filepath: 'a.wav', audio_hash: hash } })),
  badHash: refused(() => w.validateMessage('process_duplicate_file', { task: 'app.tasks.process_duplicate_file',
    id: 'x', args: [], kwargs: { stemId: 's', filepath: 'a.wav', audio_hash: 'nope' } })),
  goodMessage: w.validateMessage('generate_hash_and_webhook',
    { task: 'app.tasks.generate_hash_and_webhook', id: 'x', args: [], kwargs: { stemId: 's', filepath: 'a.wav' } }).id,
  completion: refused(() => w.validateWebhook('completion', { stemId: 's', status: 'SUCCESS' })),
  receipt: refused(() => w.validateDecisionReceipt({ outcome: 'maybe',
    decision_in_force: { duplicate: true, filepath: 'a' } })),
}));
"""
    done = run(["node", "-e", script], kit)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"decision": True, "goodDecision": "a.wav", "badStemId": True, "badHash": True,
                                       "goodMessage": "x", "completion": True, "receipt": True}


def test_the_temporal_path_is_configured_as_the_cli_is(kit: Path, tmp_path: Path) -> None:
    """@temporalio/envconfig reads the TEMPORAL_* variables and the CLI's profiles; the module's options win."""
    (tmp_path / "temporal.toml").write_text('[profile.cloud]\naddress = "ns.acct.tmprl.cloud:7233"\n'
                                            'namespace = "ns.acct"\napi_key = "profile-key"\n')
    script = """
const { loadTemporalConnectConfig } = require('@waveflow/nestjs');
const env = JSON.parse(process.argv[1]);
process.stdout.write(JSON.stringify([
  loadTemporalConnectConfig({ env: {} }),
  loadTemporalConnectConfig({ env: { TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'waveflow',
                                     TEMPORAL_API_KEY: '' } }),
  loadTemporalConnectConfig({ env }),
  loadTemporalConnectConfig({ env, namespace: 'mine', tls: false, address: 'other:7233' }),
]));
"""
    env = {"TEMPORAL_CONFIG_FILE": str(tmp_path / "temporal.toml"), "TEMPORAL_PROFILE": "cloud"}
    done = run(["node", "-e", script, json.dumps(env)], kit)
    assert done.returncode == 0, done.stderr[-2000:]
    defaults, from_env, profile, overridden = json.loads(done.stdout)
    assert defaults == {"connectionOptions": {"address": "localhost:7233"}, "namespace": "default"}
    assert from_env == {"connectionOptions": {"address": "temporal:7233"}, "namespace": "waveflow"}
    assert profile == {"connectionOptions": {"address": "ns.acct.tmprl.cloud:7233", "apiKey": "profile-key",
                                             "tls": True}, "namespace": "ns.acct"}
    assert overridden == {"connectionOptions": {"address": "other:7233", "apiKey": "profile-key", "tls": False},
                          "namespace": "mine"}


async def test_real_webhooks_verify_in_node_with_the_kit(kit: Path, stack: Stack, client: Client,
                                                        tmp_path: Path) -> None:
    secret = new_secret()
    settings = stack.settings.model_copy(update={"webhook_secret": SecretStr(secret)})
    stack.put("uploads/kit.wav", encode(sine(0.5)))
    stack.put("uploads/kit-bass.wav", encode(sine(0.5, frequency=110)))
    async with services_running(client, settings):
        stack.send(hash_request("kit", "uploads/kit.wav"))
        stack.send(mix_message("kit-stage", ["uploads/kit.wav", "uploads/kit-bass.wav"]))
        await webhooks(stack, COMPLETION)
        await webhooks(stack, MIXING_COMPLETE)
    sent = [item for item in stack.standin.received if item.status < 300]
    recorded = [{"kind": item.path.removeprefix("/webhook/"), "headers": item.headers,
                 "body": item.raw_body.decode("utf-8")} for item in sent]
    assert sorted(item["kind"] for item in recorded) == ["completion", "hash-check", "mixing-complete"]
    (tmp_path / "recorded.json").write_text(json.dumps(recorded))

    checked = run(["node", "dist-test/verify-recorded.js", str(tmp_path / "recorded.json"),
                   str(tmp_path / "report.json")], kit, WEBHOOK_SECRET=secret)
    assert checked.returncode == 0, checked.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    for item, result in zip(recorded, report["reports"], strict=True):
        assert result["id"] == item["headers"]["webhook-id"] == item["headers"]["Idempotency-Key"]
        assert result["stemOrStage"] in {"kit", "kit-stage"}
        assert result["verified"] and result["tamperedRejected"] and result["wrongSecretRejected"]
        assert result["staleRejected"] and result["otherKindInvalid"]
        assert result["controllerTamperedStatus"] == 401
        assert result["controllerFirst"] == {"ok": True, "duplicate": False}
        assert result["controllerRepeat"] == {"ok": True, "duplicate": True}
    assert len(report["handled"]) == len(recorded)


class NodeServer:
    """A Node process whose stdout lines that are JSON objects are read on a thread, so the test waits on them
    (other lines, such as Nest's own log, are kept for the failure message)."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], prefix: str = "") -> None:
        self.prefix = prefix
        self.process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.other: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(self.prefix + "{"):
                self.lines.put(json.loads(line.removeprefix(self.prefix)))
            else:
                self.other.append(line)

    def next_line(self, timeout: float = 60.0) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"the server said nothing for {timeout} s (exit {self.process.poll()}): "
                               f"{''.join(self.other)[-3000:]}") from None

    def stop(self) -> None:
        stop_process(self.process)  # type: ignore[arg-type]


async def test_the_kit_as_a_nestjs_server_drives_stems_and_a_mix_through_waveflow(
        kit: Path, stack: Stack, client: Client, temporal_server: TemporalDevServer) -> None:
    secret = new_secret()
    port = free_port()
    for key, frequency in (("uploads/kit-sqs.wav", 220), ("uploads/kit-by-update.wav", 330)):
        stack.put(key, encode(sine(0.5, frequency=frequency)))
    hash_requests = [{"stemId": stem_id, "filepath": f"uploads/{stem_id}.wav", "userId": "user-1",
                      "trackId": "track-1", "original_filename": f"{stem_id}.wav"}
                     for stem_id in ("kit-sqs", "kit-by-update")]
    mix_request = {"stageId": "kit-stage", "upstreamId": "up-kit",
                   "stem_paths": ["uploads/kit-sqs.wav", "uploads/kit-by-update.wav"]}
    server = NodeServer(["node", "dist-test/kit-server.js"], kit,
                        {"PORT": str(port), "WEBHOOK_SECRET": secret, "SQS_QUEUE_URL": stack.queue_url,
                         "TEMPORAL_ADDRESS": temporal_server.address, "KIT_HASH_REQUESTS": json.dumps(hash_requests),
                         "KIT_MIX_REQUEST": json.dumps(mix_request)})
    settings = stack.settings.model_copy(update={"webhook_secret": SecretStr(secret),
                                                 "webhook_url": f"http://127.0.0.1:{port}/webhook"})
    try:
        started = server.next_line()
        async with services_running(client, settings):
            heard = [await asyncio.to_thread(server.next_line) for _ in range(5)]
            outcomes = {stem_id: await client.get_workflow_handle(f"stem-{stem_id}").result()
                        for stem_id in ("kit-sqs", "kit-by-update")}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            answers = await post_signed_variants(http, secret)
    finally:
        server.stop()
    assert started["contract"] == "0.1" and started["producerRefusesInvalid"] is True
    assert started["temporal"] == {"connectionOptions": {"address": temporal_server.address}, "namespace": "default"}
    by_kind = sorted((line["kind"], line["payload"].get("stemId") or line["payload"]["stageId"]) for line in heard)
    assert by_kind == [("completion", "kit-by-update"), ("completion", "kit-sqs"), ("hash-check", "kit-by-update"),
                       ("hash-check", "kit-sqs"), ("mixing-complete", "kit-stage")]
    decided = {line["payload"]["stemId"]: line["decidedBy"] for line in heard if line["kind"] == "hash-check"}
    assert decided == {"kit-sqs": "sqs", "kit-by-update": "update:accepted"}
    for outcome in outcomes.values():  # analysed as the kit decided: with its num_peaks
        assert outcome["status"] == "SUCCESS" and outcome["completion"]["result"]["num_peaks"] == 800
    [mix] = [line["payload"] for line in heard if line["kind"] == "mixing-complete"]
    assert mix["status"] == "SUCCESS" and mix["upstreamId"] == "up-kit" and mix["stem_count"] == 2
    assert answers == {"first": (200, False), "repeat": (200, True), "tampered": 401, "stale": 401, "invalid": 422}


def completion_body(stem_id: str) -> bytes:
    """A FAILURE completion as WaveFlow serialises it: keys sorted, no whitespace."""
    payload = CompletionPayload(stemId=stem_id, userId=None, trackId=None, upstreamId=None, status="FAILURE",
                                result=FailureResult(error="the file does not exist in S3",
                                                     error_code="object_not_found"),
                                timestamp="2024-01-01T10:00:00Z", original_filename=None, processing_time=1.0,
                                audio_wave_path=None)
    return json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


async def post_signed_variants(http: httpx.AsyncClient, secret: str, prefix: str = "/webhook") -> dict[str, Any]:
    """A signed completion posted to the package's controller: once, again, with its body changed, signed 10
    minutes ago, and a signed body that is no completion."""
    body = completion_body("kit-extra")
    now = int(time.time())

    def signed(webhook_id: str, content: bytes, at: int = now) -> dict[str, str]:
        return {"Content-Type": "application/json", **signature_headers(secret, webhook_id, at, content)}

    headers = signed("stem-kit-extra:run:completion", body)
    first = await http.post(f"{prefix}/completion", content=body, headers=headers)
    repeat = await http.post(f"{prefix}/completion", content=body, headers=headers)
    tampered = await http.post(f"{prefix}/completion", content=body.replace(b"FAILURE", b"SUCCESS"), headers=headers)
    old = await http.post(f"{prefix}/completion", content=body,
                          headers=signed("stem-kit-extra:run2:completion", body, now - 600))
    not_a_completion = b'{"status":"SUCCESS","stemId":"kit-extra"}'
    invalid = await http.post(f"{prefix}/completion", content=not_a_completion,
                              headers=signed("stem-kit-extra:run3:completion", not_a_completion))
    assert first.status_code == 200, first.text
    return {"first": (first.status_code, first.json()["duplicate"]),
            "repeat": (repeat.status_code, repeat.json()["duplicate"]),
            "tampered": tampered.status_code, "stale": old.status_code, "invalid": invalid.status_code}
