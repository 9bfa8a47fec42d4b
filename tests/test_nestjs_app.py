"""@waveflow/nestjs in a NestJS app nobody here wrote: `npm pack` of packages/nestjs, installed into a fresh app
made by the official generator (`@nestjs/cli new`, pinned; NestJS 12, an ES-module app whose main.ts creates the
app without `rawBody: true`), whose only source change is `src/app.module.ts`: it imports
`WaveFlowModule.forRoot({}, { events })` (everything else from the environment) and holds the test's events
provider, which answers each hash-check with a decision through the package's SQS producer. Built with the app's
own `npm run build` and started as `node dist/main` (PORT from the environment, as the generated main.ts reads it),
it receives WaveFlow's real signed webhooks, refuses a tampered, a stale and a malformed one, and drives a stem and
a mixdown to completion."""

from __future__ import annotations

import asyncio
import json
import shutil
import tarfile
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client

from devstack.node_packages import NODE_CACHE, ToolUnavailableError, ensure_npm, run
from devstack.processes import ROOT, TemporalDevServer, free_port, one_at_a_time
from tests.audio_samples import encode, sine
from tests.conftest import Stack, hash_request, services_running
from tests.test_mixing import mix_message
from tests.test_nestjs_kit import (  # noqa: F401 (kit: the fixture)
    NodeServer,
    kit,
    post_signed_variants,
    worker_suffix,
)
from waveflow.signing import new_secret

pytestmark = pytest.mark.xdist_group("nestjs_kit")  # it packs the installed package the kit's tests share

NEST_CLI = "12.0.8"
"""The generator's version: `npx @nestjs/cli@<this> new` (NestJS 12, what `npm view @nestjs/core` calls latest)."""
APP = NODE_CACHE / f"nestjs-app-cli-{NEST_CLI}-{worker_suffix()}"
PRISTINE = ("package.json", "package-lock.json", "src/app.module.ts")
"""What the test changes in the generated app (installing the tarball writes the first two), restored each run."""
LINE = "WAVEFLOW-APP "

APP_MODULE = """\
import { Injectable, Module } from '@nestjs/common';
import {
  HashCheckPayload,
  VerifiedWebhook,
  WaveFlowEvents,
  WaveFlowModule,
  WaveFlowProducer,
  WebhookKind,
} from '@waveflow/nestjs';
import { AppController } from './app.controller.js';
import { AppService } from './app.service.js';

/** The test's events provider: each hash-check is answered with a decision through the producer (SQS). */
@Injectable()
class DecidingEvents extends WaveFlowEvents {
  constructor(private readonly producer: WaveFlowProducer) {
    super();
  }

  override async handle<K extends WebhookKind>(kind: K, webhook: VerifiedWebhook<K>): Promise<void> {
    if (kind === 'hash-check') {
      const check = webhook.payload as HashCheckPayload;
      await this.producer.decideAnalysis({
        stemId: check.stemId,
        filepath: check.filepath,
        audio_hash: check.audio_hash,
        num_peaks: 640,
        upstreamId: 'fresh-app',
      });
    }
    console.log(`%LINE%${JSON.stringify({ kind, id: webhook.id, payload: webhook.payload })}`);
  }
}

@Module({
  imports: [WaveFlowModule.forRoot({}, { events: DecidingEvents })],
  controllers: [AppController],
  providers: [AppService],
})
export class AppModule {}
""".replace("%LINE%", LINE)


def npm_step(command: list[str], cwd: Path, what: str, timeout: float = 600) -> None:
    done = run(command, cwd, timeout=timeout)
    if done.returncode != 0:
        raise ToolUnavailableError(f"{what} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")


def generated_app() -> Path:
    """The app as `nest new` made it, with its dependencies installed; made once per CLI version and kept under
    .devstack/node (the generator and npm need the public npm registry)."""
    ensure_npm(install=True)  # raises ToolUnavailableError when npm is missing and cannot be installed
    if (APP / ".generated").exists():
        return APP
    shutil.rmtree(APP, ignore_errors=True)
    APP.parent.mkdir(parents=True, exist_ok=True)
    npm_step(["npx", "--yes", f"@nestjs/cli@{NEST_CLI}", "new", APP.name, "--skip-git", "--package-manager", "npm",
              "--skip-install"], APP.parent, f"nest new (@nestjs/cli@{NEST_CLI})")
    npm_step(["npm", "install", "--no-audit", "--no-fund"], APP, "npm install in the generated app")
    for name in PRISTINE:
        (APP / ".pristine" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(APP / name, APP / ".pristine" / name)
    (APP / ".generated").touch()
    return APP


@pytest.fixture(scope="module")
def packed(kit: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """`npm pack` of the installed package (its `prepack` builds dist/ again)."""
    target = tmp_path_factory.mktemp("packed")
    done = run(["npm", "pack", "--pack-destination", str(target)], kit)
    assert done.returncode == 0, done.stderr[-3000:]
    [tarball] = target.glob("waveflow-nestjs-*.tgz")
    return tarball


@pytest.fixture(scope="module")
def app(packed: Path) -> Path:
    """The generated app with the tarball installed, `src/app.module.ts` replaced, built by `npm run build`."""
    try:
        with one_at_a_time(f"npm-{APP.name}"):
            generated = generated_app()
            for name in PRISTINE:
                shutil.copy2(generated / ".pristine" / name, generated / name)
            npm_step(["npm", "install", "--no-audit", "--no-fund", str(packed)], generated, "npm install <tarball>")
    except ToolUnavailableError as reason:
        if shutil.which("npm") is None or run(["npm", "ping"], ROOT, timeout=60).returncode != 0:
            pytest.skip(f"npm is missing or the npm registry unreachable (`npm ping` fails): {reason}")
        pytest.fail(str(reason))  # the registry answers: a failed generation or install is a failure
    main = (generated / "src" / "main.ts").read_text()
    assert "rawBody" not in main and "process.env.PORT" in main, main
    (generated / "src" / "app.module.ts").write_text(APP_MODULE)
    done = run(["npm", "run", "build"], generated)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return generated


def test_the_tarball_ships_the_build_the_schemas_and_no_tests(packed: Path) -> None:
    with tarfile.open(packed) as archive:
        names = set(archive.getnames())
    assert {"package/dist/index.js", "package/dist/index.d.ts", "package/package.json", "package/README.md",
            "package/LICENSE", "package/schemas/webhooks/completion.schema.json"} <= names
    assert not [name for name in names if name.startswith(("package/test/", "package/node_modules/",
                                                           "package/dist-test/", "package/scripts/"))]


def test_the_fresh_app_is_nestjs_12_and_only_its_app_module_changed(app: Path) -> None:
    core = json.loads((app / "node_modules" / "@nestjs" / "core" / "package.json").read_text())
    assert core["version"].startswith("12.")
    manifest = json.loads((app / "package.json").read_text())
    pristine = json.loads((app / ".pristine" / "package.json").read_text())
    assert manifest["dependencies"].pop("@waveflow/nestjs").startswith("file:")
    assert manifest == pristine  # the tarball's dependency is the package.json's only change


async def test_a_fresh_nestjs_app_receives_webhooks_and_drives_a_stem_and_a_mix(
        app: Path, stack: Stack, client: Client, temporal_server: TemporalDevServer) -> None:
    secret = new_secret()
    port = free_port()
    stack.put("uploads/app-drums.wav", encode(sine(0.5, frequency=220)))
    stack.put("uploads/app-bass.wav", encode(sine(0.5, frequency=110)))
    server = NodeServer(["node", "dist/main"], app, {"PORT": str(port), "WEBHOOK_SECRET": secret,
                                                     "SQS_QUEUE_URL": stack.queue_url,
                                                     "TEMPORAL_ADDRESS": temporal_server.address}, prefix=LINE)
    settings = stack.settings.model_copy(update={"webhook_secret": SecretStr(secret),
                                                 "webhook_url": f"http://127.0.0.1:{port}/webhook"})
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await until_listening(http, server)
            async with services_running(client, settings):
                stack.send(hash_request("app-drums", "uploads/app-drums.wav"))
                stack.send(mix_message("app-stage", ["uploads/app-drums.wav", "uploads/app-bass.wav"]))
                heard = [await asyncio.to_thread(server.next_line) for _ in range(3)]
                outcome = await client.get_workflow_handle("stem-app-drums").result()
            answers = await post_signed_variants(http, secret)
            hello = (await http.get("/")).text
    finally:
        server.stop()
    assert sorted(line["kind"] for line in heard) == ["completion", "hash-check", "mixing-complete"]
    by_kind = {line["kind"]: line for line in heard}
    assert by_kind["hash-check"]["id"].startswith("stem-app-drums:")
    completion = by_kind["completion"]["payload"]
    assert completion["status"] == "SUCCESS" and completion["upstreamId"] == "fresh-app"
    assert completion["result"]["num_peaks"] == 640  # analysed as the app decided
    assert outcome["status"] == "SUCCESS"
    mix = by_kind["mixing-complete"]["payload"]
    assert mix["status"] == "SUCCESS" and mix["stageId"] == "app-stage" and mix["stem_count"] == 2
    assert answers == {"first": (200, False), "repeat": (200, True), "tampered": 401, "stale": 401, "invalid": 422}
    assert hello == "Hello World!"  # the app's own route is untouched


async def until_listening(http: httpx.AsyncClient, server: NodeServer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the app exited: {''.join(server.other)[-3000:]}")
        try:
            await http.get("/")
            return
        except httpx.TransportError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"the app did not listen within {timeout} s: {''.join(server.other)[-3000:]}")
