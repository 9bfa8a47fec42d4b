import { DynamicModule, Module } from '@nestjs/common';

import { WaveFlowProducer } from './sqs/waveflow-producer';
import { WaveFlowTemporal } from './temporal/waveflow-temporal';
import { WAVEFLOW_OPTIONS, WaveFlowOptions } from './waveflow.options';
import { InMemoryProcessedWebhooks, ProcessedWebhooks } from './webhooks/processed-webhooks';
import { WaveFlowEvents } from './webhooks/waveflow-events';
import { WaveFlowWebhookController } from './webhooks/waveflow-webhook.controller';

@Module({})
export class WaveFlowModule {
  /** Override ProcessedWebhooks and WaveFlowEvents with your own providers in the importing module. */
  static forRoot(options: WaveFlowOptions): DynamicModule {
    return {
      module: WaveFlowModule,
      controllers: [WaveFlowWebhookController],
      providers: [
        { provide: WAVEFLOW_OPTIONS, useValue: options },
        { provide: ProcessedWebhooks, useClass: InMemoryProcessedWebhooks },
        WaveFlowEvents,
        WaveFlowProducer,
        WaveFlowTemporal,
      ],
      exports: [WaveFlowProducer, WaveFlowTemporal],
    };
  }
}
