/**
 * The package as a real NestJS server for tests/test_nestjs_kit.py, configured the `@nestjs/config` way
 * (`WaveFlowModule.forRootAsync` injecting ConfigService) and created WITHOUT `{ rawBody: true }`: WaveFlow's
 * webhooks come in over HTTP, and each hash-check is answered with a decision through the package (the SQS
 * producer, or the Temporal update for stems whose id ends in `-by-update`). Every verified first-time webhook is
 * printed as one JSON line on stdout.
 *
 * Environment: PORT, WEBHOOK_SECRET, SQS_QUEUE_URL, AWS_* (endpoint, region, credentials), TEMPORAL_ADDRESS,
 * and optionally KIT_HASH_REQUESTS (a JSON list) and KIT_MIX_REQUEST (JSON) to send through the producer once
 * listening.
 */
import 'reflect-metadata';

import { Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import {
  HashCheckPayload,
  VerifiedWebhook,
  WaveFlowEvents,
  WaveFlowModule,
  WaveFlowProducer,
  WaveFlowTemporal,
  WaveFlowValidationError,
  WebhookKind,
  WIRE_CONTRACT_VERSION,
} from '@waveflow/nestjs';

@Injectable()
class DecidingEvents extends WaveFlowEvents {
  constructor(
    private readonly producer: WaveFlowProducer,
    private readonly temporal: WaveFlowTemporal,
  ) {
    super();
  }

  override async handle<K extends WebhookKind>(kind: K, webhook: VerifiedWebhook<K>): Promise<void> {
    let decidedBy: string | undefined;
    if (kind === 'hash-check') {
      const hashCheck = webhook.payload as HashCheckPayload;
      const decision = { filepath: hashCheck.filepath, audio_hash: hashCheck.audio_hash, num_peaks: 800 };
      if (hashCheck.stemId.endsWith('-by-update')) {
        const receipt = await this.temporal.decide(hashCheck.stemId, { duplicate: false, ...decision });
        decidedBy = `update:${receipt.outcome}`;
      } else {
        await this.producer.decideAnalysis({ stemId: hashCheck.stemId, ...decision, upstreamId: 'kit' });
        decidedBy = 'sqs';
      }
    }
    process.stdout.write(`${JSON.stringify({ kind, id: webhook.id, payload: webhook.payload, decidedBy })}\n`);
  }
}

@Module({
  imports: [
    ConfigModule.forRoot({ ignoreEnvFile: true }),
    WaveFlowModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        webhookSecret: config.getOrThrow<string>('WEBHOOK_SECRET'),
        queueUrl: config.getOrThrow<string>('SQS_QUEUE_URL'),
        temporal: { address: config.get<string>('TEMPORAL_ADDRESS') },
      }),
      events: DecidingEvents,
    }),
  ],
})
class KitServerModule {}

async function producerRefusesInvalid(producer: WaveFlowProducer): Promise<boolean> {
  try {
    await producer.requestHash({ stemId: '../not-a-stem-id', filepath: 'uploads/x.wav' });
    return false;
  } catch (error) {
    return error instanceof WaveFlowValidationError;
  }
}

async function main(): Promise<void> {
  const app = await NestFactory.create(KitServerModule, { logger: ['error'] });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
  const producer = app.get(WaveFlowProducer);
  for (const request of JSON.parse(process.env.KIT_HASH_REQUESTS ?? '[]')) await producer.requestHash(request);
  if (process.env.KIT_MIX_REQUEST) await producer.requestMixdown(JSON.parse(process.env.KIT_MIX_REQUEST));
  const line = {
    listening: await app.getUrl(),
    contract: WIRE_CONTRACT_VERSION,
    temporal: app.get(WaveFlowTemporal).config,
    producerRefusesInvalid: await producerRefusesInvalid(producer),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
