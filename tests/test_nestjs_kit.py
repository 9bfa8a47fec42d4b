"""The NestJS kit (examples/nestjs): it type-checks, its types are the pydantic models', and it verifies
webhooks WaveFlow really sent with the npm `standardwebhooks` package (a tampered body, another secret or a stale
timestamp fail) and applies each `webhook-id` once."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from devstack.node_packages import run
from devstack.processes import ROOT
from tests.conftest import COMPLETION, Stack, hash_request, services_running, webhooks
from tests.node_tools import installed_package
from tests.signals import encode, sine
from tests.test_mixing import MIXING_COMPLETE, mix_message
from waveflow.signing import new_secret

KIT = ROOT / "examples" / "nestjs"


def schemas() -> dict[str, str]:
    """What examples/nestjs/generate_schemas.py writes for today's models."""
    generator = runpy.run_path(str(KIT / "generate_schemas.py"))
    return generator["schemas"]()


@pytest.fixture(scope="module")
def kit() -> Path:
    return installed_package(KIT, "nestjs-kit")


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

    built = run(["node_modules/.bin/tsc", "--outDir", "dist"], kit)
    assert built.returncode == 0, built.stdout[-3000:]
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
