import {
  CanActivate,
  ExecutionContext,
  Inject,
  Injectable,
  InternalServerErrorException,
  Logger,
  NotFoundException,
  UnauthorizedException,
  UnprocessableEntityException,
} from '@nestjs/common';
import type { IncomingHttpHeaders } from 'http';

import { WaveFlowValidationError, WEBHOOK_KINDS, WebhookKind } from '../validation/validators';
import { ResolvedWaveFlowOptions, WAVEFLOW_OPTIONS } from '../waveflow.options';
import { VerifiedWebhook, verifyWaveFlowWebhook, WebhookVerificationError } from './verify';

/** Where the guard leaves the verified webhook on the request (read it with `@WaveFlowWebhook()`). */
export const VERIFIED_WEBHOOK = Symbol('waveflow.verifiedWebhook');

export interface WebhookRequest {
  rawBody?: Buffer;
  headers: IncomingHttpHeaders;
  params?: Record<string, string>;
  path?: string;
  url?: string;
  [VERIFIED_WEBHOOK]?: VerifiedWebhook;
}

/**
 * Lets a WaveFlow webhook through only when its Standard Webhooks signature over the raw body is right and
 * its timestamp is within 5 minutes (401 otherwise; WaveFlow retries a 401 for a while, for a secret rotated on
 * one side first), and when its payload matches WaveFlow's schema for the kind (422 otherwise, which WaveFlow
 * takes as final). The kind is the route's `:kind` parameter, else the last segment of the path.
 */
@Injectable()
export class WaveFlowWebhookGuard implements CanActivate {
  private readonly logger = new Logger('WaveFlowWebhookGuard');

  constructor(@Inject(WAVEFLOW_OPTIONS) private readonly options: ResolvedWaveFlowOptions) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<WebhookRequest>();
    const kind = request.params?.kind ?? (request.path ?? request.url ?? '').split('?')[0].split('/').filter(Boolean).pop();
    if (!WEBHOOK_KINDS.includes(kind as WebhookKind)) throw new NotFoundException(`no WaveFlow webhook ${kind}`);
    if (!request.rawBody) {
      throw new InternalServerErrorException(
        'the raw body of the webhook is missing: on Express import WaveFlowModule, elsewhere create the app with { rawBody: true }',
      );
    }
    try {
      request[VERIFIED_WEBHOOK] = verifyWaveFlowWebhook(kind as WebhookKind, request.rawBody, request.headers, this.options.webhookSecret, {
        validate: this.options.validate,
      });
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        this.logger.warn(`refused a ${kind} webhook: ${error.message}`);
        throw new UnauthorizedException(error.message);
      }
      if (error instanceof WaveFlowValidationError) {
        this.logger.error(`a signed ${kind} webhook ${error.message}`);
        throw new UnprocessableEntityException(error.message);
      }
      throw error;
    }
    return true;
  }
}
