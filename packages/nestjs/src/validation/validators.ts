import Ajv2020, { ErrorObject, ValidateFunction } from 'ajv/dist/2020';

import type { GenerateHashAndWebhookMessage } from '../generated/messages/generate_hash_and_webhook';
import type { MixStemsAndUploadMessage } from '../generated/messages/mix_stems_and_upload';
import type { ProcessAudioAnalysisMessage } from '../generated/messages/process_audio_analysis';
import type { ProcessDuplicateFileMessage } from '../generated/messages/process_duplicate_file';
import { WIRE_SCHEMAS, WireSchemaName } from '../generated/schemas';
import type { DedupeDecision } from '../generated/signals/decide';
import type { DecisionReceipt } from '../generated/updates/decide.result';
import type { CompletionPayload } from '../generated/webhooks/completion';
import type { HashCheckPayload } from '../generated/webhooks/hash-check';
import type { MixingCompletePayload } from '../generated/webhooks/mixing-complete';

/** What WaveFlow POSTs to `{WEBHOOK_URL}/<kind>`. */
export interface WaveFlowWebhooks {
  'hash-check': HashCheckPayload;
  completion: CompletionPayload;
  'mixing-complete': MixingCompletePayload;
}
export type WebhookKind = keyof WaveFlowWebhooks;
export const WEBHOOK_KINDS: readonly WebhookKind[] = ['hash-check', 'completion', 'mixing-complete'];

/** The SQS messages the producer sends, by task. */
export interface WaveFlowMessages {
  generate_hash_and_webhook: GenerateHashAndWebhookMessage;
  process_audio_analysis: ProcessAudioAnalysisMessage;
  process_duplicate_file: ProcessDuplicateFileMessage;
  mix_stems_and_upload: MixStemsAndUploadMessage;
}
export type WaveFlowTask = keyof WaveFlowMessages;

/** A payload that does not match WaveFlow's schema: `schema` names it, `errors` are ajv's. */
export class WaveFlowValidationError extends Error {
  constructor(
    readonly schema: WireSchemaName,
    readonly errors: ErrorObject[],
  ) {
    super(
      `does not match WaveFlow's ${schema} schema: ` +
        errors.map((error) => `${error.instancePath || '(root)'} ${error.message ?? error.keyword}`).join('; '),
    );
    this.name = 'WaveFlowValidationError';
  }
}

let ajv: Ajv2020 | undefined;
const compiled = new Map<WireSchemaName, ValidateFunction>();

/** The compiled validator of one of WaveFlow's schemas (ajv, JSON Schema draft 2020-12), compiled once. */
export function wireValidator(name: WireSchemaName): ValidateFunction {
  let validate = compiled.get(name);
  if (!validate) {
    ajv ??= new Ajv2020({ allErrors: true, strict: true, validateFormats: false });
    validate = ajv.compile(WIRE_SCHEMAS[name]);
    compiled.set(name, validate);
  }
  return validate;
}

/** Returns `value` typed when it matches the schema; throws WaveFlowValidationError otherwise. */
export function assertWire<T>(name: WireSchemaName, value: unknown): T {
  const validate = wireValidator(name);
  if (!validate(value)) throw new WaveFlowValidationError(name, [...(validate.errors ?? [])]);
  return value as T;
}

export function validateWebhook<K extends WebhookKind>(kind: K, payload: unknown): WaveFlowWebhooks[K] {
  return assertWire<WaveFlowWebhooks[K]>(`webhooks/${kind}`, payload);
}

export function validateMessage<T extends WaveFlowTask>(task: T, message: unknown): WaveFlowMessages[T] {
  return assertWire<WaveFlowMessages[T]>(`messages/${task}`, message);
}

export function validateDecision(decision: unknown): DedupeDecision {
  return assertWire<DedupeDecision>('signals/decide', decision);
}

export function validateDecisionReceipt(receipt: unknown): DecisionReceipt {
  return assertWire<DecisionReceipt>('updates/decide.result', receipt);
}
