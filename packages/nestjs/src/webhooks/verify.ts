import { Webhook, WebhookVerificationError } from 'standardwebhooks';

import { validateWebhook, WaveFlowWebhooks, WebhookKind } from '../validation/validators';

export { WebhookVerificationError };

export interface VerifiedWebhook<K extends WebhookKind = WebhookKind> {
  kind: K;
  /** `webhook-id`: `stem-<stemId>:<runId>:<kind>`, the same on every retry; apply each id once. */
  id: string;
  payload: WaveFlowWebhooks[K];
}

export interface VerifyOptions {
  /** Check the payload against WaveFlow's schema for `kind` (WaveFlowValidationError). Default: true. */
  validate?: boolean;
}

/**
 * Checks a WaveFlow webhook per Standard Webhooks: the signature over the raw body (never a re-serialised
 * one) under the `whsec_…` secret, and a timestamp within 5 minutes (WebhookVerificationError); then the
 * payload against the schema of `kind` (WaveFlowValidationError).
 */
export function verifyWaveFlowWebhook<K extends WebhookKind>(
  kind: K,
  rawBody: Buffer | string,
  headers: Record<string, string | string[] | undefined>,
  secret: string,
  options: VerifyOptions = {},
): VerifiedWebhook<K> {
  if (!secret) throw new WebhookVerificationError('no webhook secret is configured (WEBHOOK_SECRET)');
  const single: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) single[name.toLowerCase()] = Array.isArray(value) ? value.join(' ') : value;
  }
  const payload: unknown = new Webhook(secret).verify(rawBody, single);
  return {
    kind,
    id: single['webhook-id'],
    payload: options.validate === false ? (payload as WaveFlowWebhooks[K]) : validateWebhook(kind, payload),
  };
}
