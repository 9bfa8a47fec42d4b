import { DynamicModule, Module, Provider } from '@nestjs/common';

import { WaveFlowProducer } from './sqs/waveflow-producer';
import { WaveFlowTemporal } from './temporal/waveflow-temporal';
import {
  resolveWaveFlowOptions,
  WAVEFLOW_OPTIONS,
  WAVEFLOW_SQS_CLIENT,
  WaveFlowModuleAsyncOptions,
  WaveFlowModuleParts,
  WaveFlowOptions,
} from './waveflow.options';
import { InMemoryProcessedWebhooks, ProcessedWebhooks } from './webhooks/processed-webhooks';
import { WaveFlowRawBody } from './webhooks/raw-body';
import { WaveFlowEvents } from './webhooks/waveflow-events';
import { WaveFlowWebhookController } from './webhooks/waveflow-webhook.controller';
import { WaveFlowWebhookGuard } from './webhooks/waveflow-webhook.guard';

/**
 * WaveFlow in a NestJS app: `POST /webhook/:kind` verified (WaveFlowWebhookGuard) and de-duplicated, the raw
 * body kept without `{ rawBody: true }` (Express), WaveFlowProducer (SQS) and WaveFlowTemporal (the direct path).
 * `imports: [WaveFlowModule]` alone reads everything from the environment.
 */
@Module({})
export class WaveFlowModule {
  /** Options given here, with the environment's defaults for what they leave out. */
  static forRoot(options: WaveFlowOptions = {}, parts: WaveFlowModuleParts = {}): DynamicModule {
    return WaveFlowModule.build({ provide: WAVEFLOW_OPTIONS, useValue: resolveWaveFlowOptions(options) }, parts);
  }

  /** Options from a factory, e.g. `{ imports: [ConfigModule], inject: [ConfigService], useFactory: (config) => ({...}) }`. */
  static forRootAsync(options: WaveFlowModuleAsyncOptions): DynamicModule {
    return WaveFlowModule.build(
      {
        provide: WAVEFLOW_OPTIONS,
        inject: options.inject ?? [],
        useFactory: async (...args: unknown[]) => resolveWaveFlowOptions(await options.useFactory(...args)),
      },
      options,
    );
  }

  private static build(optionsProvider: Provider, parts: WaveFlowModuleParts): DynamicModule {
    const providers: Provider[] = [
      optionsProvider,
      { provide: ProcessedWebhooks, useClass: parts.processedWebhooks ?? InMemoryProcessedWebhooks },
      { provide: WaveFlowEvents, useClass: parts.events ?? WaveFlowEvents },
      WaveFlowRawBody,
      WaveFlowWebhookGuard,
      WaveFlowProducer,
      WaveFlowTemporal,
    ];
    if (parts.sqsClient) providers.push({ provide: WAVEFLOW_SQS_CLIENT, useValue: parts.sqsClient });
    return {
      module: WaveFlowModule,
      global: parts.global ?? false,
      imports: parts.imports ?? [],
      controllers: parts.controller === false ? [] : [WaveFlowWebhookController],
      providers,
      exports: [WAVEFLOW_OPTIONS, WaveFlowProducer, WaveFlowTemporal, WaveFlowWebhookGuard, ProcessedWebhooks, WaveFlowEvents],
    };
  }
}
