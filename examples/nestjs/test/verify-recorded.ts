/**
 * Checks webhooks WaveFlow really sent (recorded by tests/test_nestjs_kit.py) with the kit itself:
 * `node dist/test/verify-recorded.js <recorded.json> <report.json>` with WEBHOOK_SECRET set.
 */
import 'reflect-metadata';

import { readFileSync, writeFileSync } from 'fs';

import { UnauthorizedException } from '@nestjs/common';

import { InMemoryProcessedWebhooks } from '../src/webhooks/processed-webhooks';
import { VerifiedWebhook, WebhookKind, WebhookVerificationError, verifyWaveFlowWebhook } from '../src/webhooks/verify';
import { WaveFlowEvents } from '../src/webhooks/waveflow-events';
import { WaveFlowWebhookController } from '../src/webhooks/waveflow-webhook.controller';

interface Recorded {
  kind: WebhookKind;
  headers: Record<string, string>;
  body: string;
}

interface Report {
  kind: WebhookKind;
  id: string;
  stemOrStage: string | undefined;
  verified: boolean;
  tamperedRejected: boolean;
  wrongSecretRejected: boolean;
  staleRejected: boolean;
  controllerFirst: unknown;
  controllerRepeat: unknown;
  controllerTamperedStatus: number | undefined;
}

class RecordingEvents extends WaveFlowEvents {
  readonly handled: string[] = [];

  override async handle<K extends WebhookKind>(kind: K, webhook: VerifiedWebhook<K>): Promise<void> {
    this.handled.push(`${kind} ${webhook.id}`);
  }
}

function rejects(check: () => unknown): boolean {
  try {
    check();
    return false;
  } catch (error) {
    return error instanceof WebhookVerificationError;
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
  const controller = new WaveFlowWebhookController(
    { webhookSecret: secret, queueUrl: 'unused' },
    new InMemoryProcessedWebhooks(),
    events,
  );
  const reports: Report[] = [];
  for (const item of recorded) {
    const body = Buffer.from(item.body, 'utf8');
    const tampered = Buffer.from(item.body.replace('"status":"', '"status":"X'), 'utf8');
    const verified = verifyWaveFlowWebhook(body, item.headers, secret);
    const payload = verified.payload as { stemId?: string; stageId?: string };
    const request = (raw: Buffer) => ({ rawBody: raw, headers: item.headers }) as never;
    let controllerTamperedStatus: number | undefined;
    try {
      await controller.receive(item.kind, request(tampered));
    } catch (error) {
      if (error instanceof UnauthorizedException) controllerTamperedStatus = error.getStatus();
    }
    reports.push({
      kind: item.kind,
      id: verified.id,
      stemOrStage: payload.stemId ?? payload.stageId,
      verified: true,
      tamperedRejected: rejects(() => verifyWaveFlowWebhook(tampered, item.headers, secret)),
      wrongSecretRejected: rejects(() =>
        verifyWaveFlowWebhook(body, item.headers, 'whsec_' + Buffer.alloc(32, 7).toString('base64')),
      ),
      staleRejected: atLaterTime(6 * 60 * 1000, () => rejects(() => verifyWaveFlowWebhook(body, item.headers, secret))),
      controllerFirst: await controller.receive(item.kind, request(body)),
      controllerRepeat: await controller.receive(item.kind, request(body)),
      controllerTamperedStatus,
    });
  }
  writeFileSync(process.argv[3], JSON.stringify({ reports, handled: events.handled }));
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
