import { DynamicModule, Module, ModuleMetadata, Type } from '@nestjs/common';

import { WaveFlowProducer } from './sqs/waveflow-producer';
import { WaveFlowTemporal } from './temporal/waveflow-temporal';
import { WAVEFLOW_OPTIONS, WaveFlowOptions } from './waveflow.options';
import { InMemoryProcessedWebhooks, ProcessedWebhooks } from './webhooks/processed-webhooks';
import { WaveFlowEvents } from './webhooks/waveflow-events';
import { WaveFlowWebhookController } from './webhooks/waveflow-webhook.controller';

export interface WaveFlowModuleParts {
  /** Your handling of verified, first-time webhooks (it may inject WaveFlowProducer and WaveFlowTemporal). */
  events?: Type<WaveFlowEvents>;
  /** Your de-duplication store; the default remembers ids in memory, for one process. */
  processedWebhooks?: Type<ProcessedWebhooks>;
  /** Modules whose providers `events` or `processedWebhooks` inject (your database module, say). */
  imports?: ModuleMetadata['imports'];
}

@Module({})
export class WaveFlowModule {
  static forRoot(options: WaveFlowOptions, parts: WaveFlowModuleParts = {}): DynamicModule {
    return {
      module: WaveFlowModule,
      imports: parts.imports ?? [],
      controllers: [WaveFlowWebhookController],
      providers: [
        { provide: WAVEFLOW_OPTIONS, useValue: options },
        { provide: ProcessedWebhooks, useClass: parts.processedWebhooks ?? InMemoryProcessedWebhooks },
        { provide: WaveFlowEvents, useClass: parts.events ?? WaveFlowEvents },
        WaveFlowProducer,
        WaveFlowTemporal,
      ],
      exports: [WaveFlowProducer, WaveFlowTemporal],
    };
  }
}
