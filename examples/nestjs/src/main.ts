import 'reflect-metadata';

import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { WaveFlowModule } from './waveflow.module';

@Module({
  imports: [
    WaveFlowModule.forRoot({
      webhookSecret: process.env.WEBHOOK_SECRET ?? '',
      queueUrl: process.env.SQS_QUEUE_URL ?? '',
      region: process.env.AWS_REGION,
      temporal: process.env.TEMPORAL_ADDRESS ? { address: process.env.TEMPORAL_ADDRESS } : undefined,
    }),
  ],
})
class AppModule {}

async function bootstrap(): Promise<void> {
  // rawBody: the signature covers the bytes WaveFlow sent, not a re-serialised object.
  const app = await NestFactory.create(AppModule, { rawBody: true });
  await app.listen(Number(process.env.PORT ?? 3000));
}

void bootstrap();
