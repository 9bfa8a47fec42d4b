/**
 * @waveflow/nestjs: WaveFlow's NestJS side. Everything exported here is the public API; the rest is internal.
 */
export { WIRE_CONTRACT_VERSION } from './version';

export { WaveFlowModule } from './waveflow.module';
export {
  resolveWaveFlowOptions,
  WAVEFLOW_OPTIONS,
  WAVEFLOW_SQS_CLIENT,
} from './waveflow.options';
export type {
  ResolvedWaveFlowOptions,
  WaveFlowModuleAsyncOptions,
  WaveFlowModuleParts,
  WaveFlowOptions,
  WaveFlowTemporalOptions,
} from './waveflow.options';

export { WaveFlowWebhookGuard, VERIFIED_WEBHOOK } from './webhooks/waveflow-webhook.guard';
export { WaveFlowWebhook } from './webhooks/waveflow-webhook.decorator';
export { WaveFlowWebhookController } from './webhooks/waveflow-webhook.controller';
export type { WebhookAnswer } from './webhooks/waveflow-webhook.controller';
export { verifyWaveFlowWebhook, WebhookVerificationError } from './webhooks/verify';
export type { VerifiedWebhook, VerifyOptions } from './webhooks/verify';
export { InMemoryProcessedWebhooks, ProcessedWebhooks } from './webhooks/processed-webhooks';
export { WaveFlowEvents } from './webhooks/waveflow-events';
export { keepRawWebhookBody, WaveFlowRawBody, WEBHOOK_BODY_LIMIT } from './webhooks/raw-body';

export { WaveFlowProducer } from './sqs/waveflow-producer';
export type { SendOptions, TaskEnvelope } from './sqs/waveflow-producer';

export { WaveFlowTemporal } from './temporal/waveflow-temporal';
export {
  DEFAULT_TEMPORAL_ADDRESS,
  DEFAULT_TEMPORAL_NAMESPACE,
  loadTemporalConnectConfig,
} from './temporal/temporal-config';
export type { TemporalConnectConfig } from './temporal/temporal-config';

export {
  assertWire,
  validateDecision,
  validateDecisionReceipt,
  validateMessage,
  validateWebhook,
  WaveFlowValidationError,
  WEBHOOK_KINDS,
  wireValidator,
} from './validation/validators';
export type { WaveFlowMessages, WaveFlowTask, WaveFlowWebhooks, WebhookKind } from './validation/validators';
export { WIRE_SCHEMAS } from './generated/schemas';
export type { WireSchemaName } from './generated/schemas';

export type { CompletionPayload, AnalysisResult, DuplicateDeletedResult, FailureResult } from './generated/webhooks/completion';
export type { HashCheckPayload } from './generated/webhooks/hash-check';
export type { MixingCompletePayload } from './generated/webhooks/mixing-complete';
export type { HashRequest, GenerateHashAndWebhookMessage } from './generated/messages/generate_hash_and_webhook';
export type { AudioAnalysisRequest, ProcessAudioAnalysisMessage } from './generated/messages/process_audio_analysis';
export type { DuplicateFileRequest, ProcessDuplicateFileMessage } from './generated/messages/process_duplicate_file';
export type { MixRequest, MixStemsAndUploadMessage } from './generated/messages/mix_stems_and_upload';
export type { DedupeDecision } from './generated/signals/decide';
export type { DecisionReceipt } from './generated/updates/decide.result';
