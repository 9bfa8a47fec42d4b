import { Controller, HttpCode, Post, UseGuards } from '@nestjs/common';

import type { WebhookKind } from '../validation/validators';
import { ProcessedWebhooks } from './processed-webhooks';
import type { VerifiedWebhook } from './verify';
import { WaveFlowEvents } from './waveflow-events';
import { WaveFlowWebhook } from './waveflow-webhook.decorator';
import { WaveFlowWebhookGuard } from './waveflow-webhook.guard';

export interface WebhookAnswer {
  ok: true;
  duplicate: boolean;
}

/**
 * `POST /webhook/:kind` (`hash-check`, `completion`, `mixing-complete`; under the app's global prefix, if any):
 * the guard verifies and validates, then each `webhook-id` is applied once (WaveFlowEvents) and a repeat is
 * answered 200 without being applied again.
 */
@Controller('webhook')
export class WaveFlowWebhookController {
  constructor(
    private readonly processed: ProcessedWebhooks,
    private readonly events: WaveFlowEvents,
  ) {}

  @Post(':kind')
  @HttpCode(200)
  @UseGuards(WaveFlowWebhookGuard)
  async receive(@WaveFlowWebhook() webhook: VerifiedWebhook): Promise<WebhookAnswer> {
    if (!(await this.processed.firstTime(webhook.id))) return { ok: true, duplicate: true };
    try {
      await this.events.handle(webhook.kind, webhook as VerifiedWebhook<WebhookKind>);
    } catch (error) {
      await this.processed.forget(webhook.id); // not applied: WaveFlow's retry must be applied
      throw error;
    }
    return { ok: true, duplicate: false };
  }
}
