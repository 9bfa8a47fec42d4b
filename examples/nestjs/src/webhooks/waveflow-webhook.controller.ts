import {
  Controller,
  HttpCode,
  Inject,
  Logger,
  Param,
  Post,
  RawBodyRequest,
  Req,
  UnauthorizedException,
  NotFoundException,
} from '@nestjs/common';
import type { Request } from 'express';

import { WAVEFLOW_OPTIONS, WaveFlowOptions } from '../waveflow.options';
import { ProcessedWebhooks } from './processed-webhooks';
import { VerifiedWebhook, WebhookKind, WebhookVerificationError, verifyWaveFlowWebhook } from './verify';
import { WaveFlowEvents } from './waveflow-events';

const KINDS: readonly WebhookKind[] = ['hash-check', 'completion', 'mixing-complete'];

export interface WebhookAnswer {
  ok: true;
  duplicate: boolean;
}

/**
 * `POST /webhook/:kind`. Needs the raw body: `NestFactory.create(AppModule, { rawBody: true })`.
 * 401 for a bad signature or a stale timestamp (final for WaveFlow: it stops retrying); 2xx for a repeat.
 */
@Controller('webhook')
export class WaveFlowWebhookController {
  private readonly logger = new Logger(WaveFlowWebhookController.name);

  constructor(
    @Inject(WAVEFLOW_OPTIONS) private readonly options: WaveFlowOptions,
    private readonly processed: ProcessedWebhooks,
    private readonly events: WaveFlowEvents,
  ) {}

  @Post(':kind')
  @HttpCode(200)
  async receive(@Param('kind') kind: string, @Req() request: RawBodyRequest<Request>): Promise<WebhookAnswer> {
    if (!KINDS.includes(kind as WebhookKind)) throw new NotFoundException(`no webhook ${kind}`);
    if (!request.rawBody) throw new Error('the raw body is missing: create the app with { rawBody: true }');
    let verified: VerifiedWebhook<WebhookKind>;
    try {
      verified = verifyWaveFlowWebhook(request.rawBody, request.headers, this.options.webhookSecret);
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        this.logger.warn(`rejected a ${kind} webhook: ${error.message}`);
        throw new UnauthorizedException(error.message);
      }
      throw error;
    }
    if (!(await this.processed.firstTime(verified.id))) return { ok: true, duplicate: true };
    await this.events.handle(kind as WebhookKind, verified);
    return { ok: true, duplicate: false };
  }
}
