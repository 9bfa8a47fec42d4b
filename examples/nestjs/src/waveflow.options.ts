export const WAVEFLOW_OPTIONS = Symbol('WAVEFLOW_OPTIONS');
export const WAVEFLOW_SQS_CLIENT = Symbol('WAVEFLOW_SQS_CLIENT');

export interface WaveFlowOptions {
  /** `whsec_…`, the same value as WaveFlow's WEBHOOK_SECRET. */
  webhookSecret: string;
  /** The queue WaveFlow's bridge reads (its SQS_QUEUE_URL). */
  queueUrl: string;
  region?: string;
  /** For the direct Temporal path: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and WaveFlow's task queue. */
  temporal?: { address: string; namespace?: string; taskQueue?: string };
}
