import { Injectable, Logger } from '@nestjs/common';

import type { VerifiedWebhook, WaveFlowWebhooks, WebhookKind } from './verify';

/**
 * Where verified, first-time webhooks go. Replace with your own provider (`{ provide: WaveFlowEvents,
 * useClass: ... }`): answer a hash-check with a decision through WaveFlowProducer or WaveFlowTemporal,
 * store a completion's waveform path, and so on. Throwing makes WaveFlow retry the webhook later.
 */
@Injectable()
export class WaveFlowEvents {
  private readonly logger = new Logger(WaveFlowEvents.name);

  async handle<K extends WebhookKind>(kind: K, webhook: VerifiedWebhook<K>): Promise<void> {
    const payload: WaveFlowWebhooks[K] = webhook.payload;
    this.logger.log(`${kind} ${webhook.id}: ${JSON.stringify(payload).slice(0, 200)}`);
  }
}
