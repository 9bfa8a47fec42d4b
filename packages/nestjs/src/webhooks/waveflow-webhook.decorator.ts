import { createParamDecorator, ExecutionContext } from '@nestjs/common';

import { VERIFIED_WEBHOOK, WebhookRequest } from './waveflow-webhook.guard';

/** The webhook WaveFlowWebhookGuard verified, as a handler parameter: `@WaveFlowWebhook() webhook: VerifiedWebhook`. */
export const WaveFlowWebhook = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const verified = context.switchToHttp().getRequest<WebhookRequest>()[VERIFIED_WEBHOOK];
  if (!verified) throw new Error('@WaveFlowWebhook() needs @UseGuards(WaveFlowWebhookGuard) on the route');
  return verified;
});
