import type { SQSClient } from '@aws-sdk/client-sqs';
import type { ModuleMetadata, Type } from '@nestjs/common';

import type { ProcessedWebhooks } from './webhooks/processed-webhooks';
import type { WaveFlowEvents } from './webhooks/waveflow-events';

/** The resolved options (defaults filled in); inject with `@Inject(WAVEFLOW_OPTIONS)`. */
export const WAVEFLOW_OPTIONS = Symbol('WAVEFLOW_OPTIONS');
/** Provide an `SQSClient` under this token to replace the one the producer makes. */
export const WAVEFLOW_SQS_CLIENT = Symbol('WAVEFLOW_SQS_CLIENT');

/**
 * The direct Temporal path, configured as the `temporal` CLI and WaveFlow itself are: the `TEMPORAL_*`
 * environment variables and the profiles of the CLI's config file (`TEMPORAL_CONFIG_FILE`, `TEMPORAL_PROFILE`),
 * read by `@temporalio/envconfig`. Anything set here wins over them.
 */
export interface WaveFlowTemporalOptions {
  /** `host:port` (TEMPORAL_ADDRESS; `localhost:7233` when nothing sets it). */
  address?: string;
  /** TEMPORAL_NAMESPACE; `default` when nothing sets it. */
  namespace?: string;
  /** TEMPORAL_API_KEY (Temporal Cloud); switches TLS on unless `tls` says otherwise. */
  apiKey?: string;
  /** `true`, `false`, or the TLS settings of `@temporalio/client` (TEMPORAL_TLS, TEMPORAL_TLS_*). */
  tls?: boolean | { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } };
  /** A profile of the CLI's config file (TEMPORAL_PROFILE; `default`). */
  profile?: string;
  /** The config file's path or contents, instead of TEMPORAL_CONFIG_FILE or the CLI's default location. */
  configFile?: { path: string } | { data: string };
  /** The environment to read instead of `process.env` (for tests). */
  env?: Record<string, string | undefined>;
}

/** What the module needs; every field has a default read from `process.env`. */
export interface WaveFlowOptions {
  /** `whsec_…`, the same value as WaveFlow's WEBHOOK_SECRET. Default: WEBHOOK_SECRET. */
  webhookSecret?: string;
  /** The queue WaveFlow's bridge reads (its SQS_QUEUE_URL). Default: SQS_QUEUE_URL. */
  queueUrl?: string;
  /** Default: AWS_REGION, then the AWS SDK's own resolution. */
  region?: string;
  /** The direct Temporal path; `false` switches it off. Default: from the environment, as the CLI reads it. */
  temporal?: WaveFlowTemporalOptions | false;
  /** Validate every message, decision and webhook against WaveFlow's JSON Schemas. Default: true. */
  validate?: boolean;
}

/** WaveFlowOptions with the environment's defaults applied. */
export interface ResolvedWaveFlowOptions {
  webhookSecret: string;
  queueUrl: string;
  region?: string;
  temporal: WaveFlowTemporalOptions | false;
  validate: boolean;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Fills in what `options` leaves out from `env` (an empty variable counts as unset, as in WaveFlow). */
export function resolveWaveFlowOptions(
  options: WaveFlowOptions = {},
  env: Record<string, string | undefined> = process.env,
): ResolvedWaveFlowOptions {
  return {
    webhookSecret: options.webhookSecret ?? nonEmpty(env.WEBHOOK_SECRET) ?? '',
    queueUrl: options.queueUrl ?? nonEmpty(env.SQS_QUEUE_URL) ?? '',
    region: options.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION),
    temporal: options.temporal === false ? false : { ...(options.temporal ?? {}) },
    validate: options.validate ?? true,
  };
}

/** The classes that replace the module's defaults. */
export interface WaveFlowModuleParts {
  /** Your handling of verified, first-time webhooks (it may inject WaveFlowProducer and WaveFlowTemporal). */
  events?: Type<WaveFlowEvents>;
  /** Your de-duplication store; the default remembers ids in memory, for one process. */
  processedWebhooks?: Type<ProcessedWebhooks>;
  /** An SQS client to use instead of one made from `region` and the AWS environment. */
  sqsClient?: SQSClient;
  /** Modules whose providers `events` or `processedWebhooks` (or `useFactory`) inject. */
  imports?: ModuleMetadata['imports'];
  /** Mount `POST /webhook/:kind` (WaveFlowWebhookController). Default: true. Switch it off to mount your own
   * controller with `@UseGuards(WaveFlowWebhookGuard)`. */
  controller?: boolean;
  /** Make WaveFlowProducer and WaveFlowTemporal injectable everywhere without importing the module again. */
  global?: boolean;
}

/** `WaveFlowModule.forRootAsync`: options from a factory, e.g. one that injects `ConfigService`. */
export interface WaveFlowModuleAsyncOptions extends WaveFlowModuleParts {
  /** Tokens passed to `useFactory`, e.g. `[ConfigService]`. */
  inject?: Array<string | symbol | Type<unknown> | { token: string | symbol | Type<unknown>; optional: boolean }>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  useFactory: (...args: any[]) => WaveFlowOptions | Promise<WaveFlowOptions>;
}
