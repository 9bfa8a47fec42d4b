"""The NestJS kit (examples/nestjs): it type-checks, its types are the pydantic models', it verifies webhooks
WaveFlow really sent with the npm `standardwebhooks` package (a tampered body, another secret or a stale
timestamp fail) and applies each `webhook-id` once; run as a real NestJS server it drives stems and a mixdown
through WaveFlow with its SQS producer and its Temporal update."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import runpy
import subprocess
import threading
import time
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
from waveflow.signing import new_secret, signature_headers

pytestmark = pytest.mark.xdist_group("nestjs_kit")  # its tests share one installed NestJS kit

KIT = ROOT / "examples" / "nestjs"


def schemas() -> dict[str, str]:
    """What examples/nestjs/generate_schemas.py writes for today's models."""
    generator = runpy.run_path(str(KIT / "generate_schemas.py"))
    return generator["schemas"]()


@pytest.fixture(scope="module")
def kit() -> Path:
    """Installed and compiled (the tests run the compiled kit with node)."""
    installed = installed_package(KIT, "nestjs-kit")
    built = run(["node_modules/.bin/tsc", "--outDir", "dist"], installed)
    assert built.returncode == 0, built.stdout[-3000:]
    return installed


def test_the_kit_type_checks(kit: Path) -> None:
    done = run(["node_modules/.bin/tsc", "--noEmit"], kit)
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_kit_types_are_generated_from_the_current_models(kit: Path) -> None:
    current = schemas()
    assert {path.name: path.read_text() for path in (KIT / "schemas").glob("*.json")} == current, \
        "schemas are stale: run examples/nestjs/generate_schemas.py"
    for name, text in current.items():
        (kit / "schemas" / name).write_text(text)
    done = run(["npm", "run", "generate"], kit)
    assert done.returncode == 0, done.stderr[-2000:]
    generated = {path.name: path.read_text() for path in (kit / "src" / "generated").glob("*.d.ts")}
    committed = {path.name: path.read_text() for path in (KIT / "src" / "generated").glob("*.d.ts")}
    assert generated == committed, "src/generated is stale: run `npm run generate` in examples/nestjs"
    assert len(generated) == len(current)


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

    checked = run(["node", "dist/test/verify-recorded.js", str(tmp_path / "recorded.json"),
                   str(tmp_path / "report.json")], kit, WEBHOOK_SECRET=secret)
    assert checked.returncode == 0, checked.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    for item, result in zip(recorded, report["reports"], strict=True):
        assert result["id"] == item["headers"]["webhook-id"] == item["headers"]["Idempotency-Key"]
        assert result["stemOrStage"] in {"kit", "kit-stage"}
        assert result["verified"] and result["tamperedRejected"] and result["wrongSecretRejected"]
        assert result["staleRejected"]
        assert result["controllerFirst"] == {"ok": True, "duplicate": False}
        assert result["controllerRepeat"] == {"ok": True, "duplicate": True}
        assert result["controllerTamperedStatus"] == 401
    assert len(report["handled"]) == len(recorded)


class KitServer:
    """`node dist/test/kit-server.js` with its stdout read line by line on a thread, so the test waits on lines."""

    def __init__(self, kit: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(["node", "dist/test/kit-server.js"], cwd=kit, env={**os.environ, **env},
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next_line(self, timeout: float = 60.0) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            stderr = self.process.stderr.read() if self.process.poll() is not None and self.process.stderr else ""
            raise TimeoutError(f"the kit server said nothing for {timeout} s {stderr[-2000:]}") from None

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
    server = KitServer(kit, {"PORT": str(port), "WEBHOOK_SECRET": secret, "SQS_QUEUE_URL": stack.queue_url,
                             "TEMPORAL_ADDRESS": temporal_server.address,
                             "KIT_HASH_REQUESTS": json.dumps(hash_requests),
                             "KIT_MIX_REQUEST": json.dumps(mix_request)})
    settings = stack.settings.model_copy(update={"webhook_secret": SecretStr(secret),
                                                 "webhook_url": f"http://127.0.0.1:{port}/webhook"})
    try:
        assert "listening" in server.next_line()
        async with services_running(client, settings):
            heard = [await asyncio.to_thread(server.next_line) for _ in range(5)]
            outcomes = {stem_id: await client.get_workflow_handle(f"stem-{stem_id}").result()
                        for stem_id in ("kit-sqs", "kit-by-update")}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            answers = await post_signed_variants(http, secret)
    finally:
        server.stop()
    by_kind = sorted((line["kind"], line["payload"].get("stemId") or line["payload"]["stageId"]) for line in heard)
    assert by_kind == [("completion", "kit-by-update"), ("completion", "kit-sqs"), ("hash-check", "kit-by-update"),
                       ("hash-check", "kit-sqs"), ("mixing-complete", "kit-stage")]
    decided = {line["payload"]["stemId"]: line["decidedBy"] for line in heard if line["kind"] == "hash-check"}
    assert decided == {"kit-sqs": "sqs", "kit-by-update": "update:accepted"}
    for outcome in outcomes.values():  # analysed as the kit decided: with its num_peaks
        assert outcome["status"] == "SUCCESS" and outcome["completion"]["result"]["num_peaks"] == 800
    [mix] = [line["payload"] for line in heard if line["kind"] == "mixing-complete"]
    assert mix["status"] == "SUCCESS" and mix["upstreamId"] == "up-kit" and mix["stem_count"] == 2
    assert answers == {"first": (200, False), "repeat": (200, True), "tampered": 401, "stale": 401}


async def post_signed_variants(http: httpx.AsyncClient, secret: str) -> dict[str, Any]:
    """A signed completion posted to the kit's controller: once, again, with its body changed, and signed 10
    minutes ago."""
    body = json.dumps({"stemId": "kit-extra", "status": "SUCCESS"}).encode()
    now = int(time.time())
    headers = {"Content-Type": "application/json", **signature_headers(secret, "stem-kit-extra:run:completion", now,
                                                                       body)}
    stale = {**headers, **signature_headers(secret, "stem-kit-extra:run2:completion", now - 600, body)}
    first = await http.post("/webhook/completion", content=body, headers=headers)
    repeat = await http.post("/webhook/completion", content=body, headers=headers)
    tampered = await http.post("/webhook/completion", content=body.replace(b"SUCCESS", b"FAILURE"), headers=headers)
    old = await http.post("/webhook/completion", content=body, headers=stale)
    return {"first": (first.status_code, first.json()["duplicate"]),
            "repeat": (repeat.status_code, repeat.json()["duplicate"]),
            "tampered": tampered.status_code, "stale": old.status_code}
