/**
 * Checks webhooks WaveFlow really sent (recorded by tests/test_nestjs_kit.py) with the built package, imported
 * by its own name: `node dist-test/verify-recorded.js <recorded.json> <report.json>` with WEBHOOK_SECRET set.
 */
import 'reflect-metadata';

import { readFileSync, writeFileSync } from 'fs';

import { ExecutionContext, HttpException } from '@nestjs/common';
import {
  InMemoryProcessedWebhooks,
  resolveWaveFlowOptions,
  VERIFIED_WEBHOOK,
  VerifiedWebhook,
  verifyWaveFlowWebhook,
  WaveFlowEvents,
  WaveFlowValidationError,
  WaveFlowWebhookController,
  WaveFlowWebhookGuard,
  WebhookKind,
  WebhookVerificationError,
} from '@waveflow/nestjs';

interface Recorded {
  kind: WebhookKind;
  headers: Record<string, string>;
  body: string;
}

class RecordingEvents extends WaveFlowEvents {
  readonly handled: string[] = [];

  override async handle<K extends WebhookKind>(kind: K, webhook: VerifiedWebhook<K>): Promise<void> {
    this.handled.push(`${kind} ${webhook.id}`);
  }
}

function rejects(check: () => unknown, kind: new (...args: never[]) => Error = WebhookVerificationError): boolean {
  try {
    check();
    return false;
  } catch (error) {
    return error instanceof kind;
  }
}

function atLaterTime<T>(millis: number, check: () => T): T {
  const realNow = Date.now;
  Date.now = () => realNow() + millis;
  try {
    return check();
  } finally {
    Date.now = realNow;
  }
}

async function main(): Promise<void> {
  const secret = process.env.WEBHOOK_SECRET ?? '';
  const recorded: Recorded[] = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const events = new RecordingEvents();
  const options = resolveWaveFlowOptions({ webhookSecret: secret, queueUrl: 'unused', temporal: false });
  const guard = new WaveFlowWebhookGuard(options);
  const controller = new WaveFlowWebhookController(new InMemoryProcessedWebhooks(), events);

  /** The guard, then the controller, as Nest runs them for `POST /webhook/<kind>`: the answer or the HTTP status. */
  async function post(kind: string, rawBody: Buffer, headers: Record<string, string>): Promise<unknown> {
    const request: Record<string | symbol, unknown> = { rawBody, headers, params: { kind } };
    const context = { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
    try {
      guard.canActivate(context);
      return await controller.receive(request[VERIFIED_WEBHOOK] as VerifiedWebhook);
    } catch (error) {
      if (error instanceof HttpException) return error.getStatus();
      throw error;
    }
  }

  const reports = [];
  for (const item of recorded) {
    const body = Buffer.from(item.body, 'utf8');
    const tampered = Buffer.from(item.body.replace('"status":"', '"status":"X'), 'utf8');
    const verified = verifyWaveFlowWebhook(item.kind, body, item.headers, secret);
    const payload = verified.payload as { stemId?: string; stageId?: string };
    reports.push({
      kind: item.kind,
      id: verified.id,
      stemOrStage: payload.stemId ?? payload.stageId,
      verified: true,
      tamperedRejected: rejects(() => verifyWaveFlowWebhook(item.kind, tampered, item.headers, secret)),
      wrongSecretRejected: rejects(() =>
        verifyWaveFlowWebhook(item.kind, body, item.headers, 'whsec_' + Buffer.alloc(32, 7).toString('base64')),
      ),
      staleRejected: atLaterTime(6 * 60 * 1000, () =>
        rejects(() => verifyWaveFlowWebhook(item.kind, body, item.headers, secret)),
      ),
      // signed right, but another kind's body: the schema check refuses it
      otherKindInvalid: rejects(
        () => verifyWaveFlowWebhook(item.kind === 'hash-check' ? 'mixing-complete' : 'hash-check', body, item.headers, secret),
        WaveFlowValidationError,
      ),
      controllerTamperedStatus: await post(item.kind, tampered, item.headers),
      controllerFirst: await post(item.kind, body, item.headers),
      controllerRepeat: await post(item.kind, body, item.headers),
    });
  }
  writeFileSync(process.argv[3], JSON.stringify({ reports, handled: events.handled }));
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
