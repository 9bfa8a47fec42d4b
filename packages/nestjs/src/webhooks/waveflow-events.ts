import { Injectable, Logger } from '@nestjs/common';

import type { WebhookKind } from '../validation/validators';
import type { VerifiedWebhook } from './verify';

/**
 * Where verified, first-time webhooks go: the hook your app provides (`WaveFlowModule.forRoot(options,
 * { events: MyEvents })`, a class extending this one). Answer a hash-check with a decision through
 * WaveFlowProducer or WaveFlowTemporal, store a completion's waveform path, and so on. Throwing answers 500,
 * and WaveFlow retries the webhook later. This default only logs.
 */
@Injectable()
export class WaveFlowEvents {
  private readonly logger = new Logger('WaveFlowEvents');

  async handle<K extends WebhookKind>(kind: K, webhook: VerifiedWebhook<K>): Promise<void> {
    this.logger.log(`${kind} ${webhook.id}: ${JSON.stringify(webhook.payload).slice(0, 200)}`);
  }
}
