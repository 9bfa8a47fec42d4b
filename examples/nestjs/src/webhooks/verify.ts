import { Webhook, WebhookVerificationError } from 'standardwebhooks';

import type { CompletionPayload } from '../generated/completion-webhook';
import type { HashCheckPayload } from '../generated/hash-check-webhook';
import type { MixingCompletePayload } from '../generated/mixing-complete-webhook';

export { WebhookVerificationError };

/** What WaveFlow POSTs to `{WEBHOOK_URL}/<kind>`. */
export interface WaveFlowWebhooks {
  'hash-check': HashCheckPayload;
  completion: CompletionPayload;
  'mixing-complete': MixingCompletePayload;
}
export type WebhookKind = keyof WaveFlowWebhooks;

export interface VerifiedWebhook<K extends WebhookKind> {
  /** `webhook-id`: `stem-<stemId>:<runId>:<kind>`, the same on every retry; apply each id once. */
  id: string;
  payload: WaveFlowWebhooks[K];
}

/**
 * Checks a WaveFlow webhook per Standard Webhooks: the signature over the raw body (never a re-serialised
 * one) under the `whsec_…` secret, and a timestamp within 5 minutes. Throws WebhookVerificationError.
 */
export function verifyWaveFlowWebhook<K extends WebhookKind>(
  rawBody: Buffer | string,
  headers: Record<string, string | string[] | undefined>,
  secret: string,
): VerifiedWebhook<K> {
  const single: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) single[name.toLowerCase()] = Array.isArray(value) ? value.join(' ') : value;
  }
  const payload = new Webhook(secret).verify(rawBody, single) as WaveFlowWebhooks[K];
  return { id: single['webhook-id'], payload };
}
