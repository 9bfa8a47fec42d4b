import type { ConnectionOptions } from '@temporalio/client';

import type { WaveFlowTemporalOptions } from '../waveflow.options';

export const DEFAULT_TEMPORAL_ADDRESS = 'localhost:7233';
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';

/** Where and how to connect: what `Connection.connect` and `new Client` are given. */
export interface TemporalConnectConfig {
  connectionOptions: ConnectionOptions & { address: string };
  namespace: string;
}

/**
 * Reads the connection as the `temporal` CLI and WaveFlow's own processes do (`@temporalio/envconfig`'s
 * `loadClientConnectConfig`): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*,
 * TEMPORAL_GRPC_META_*, and the profile TEMPORAL_PROFILE (or `options.profile`) of the config file
 * TEMPORAL_CONFIG_FILE (or the CLI's default one). An empty variable counts as unset, as in WaveFlow.
 * `options` wins over all of them.
 */
export function loadTemporalConnectConfig(options: WaveFlowTemporalOptions = {}): TemporalConnectConfig {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadClientConnectConfig } = require('@temporalio/envconfig') as typeof import('@temporalio/envconfig');
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.env ?? process.env)) if (value) env[name] = value;
  const loaded = loadClientConnectConfig({
    profile: options.profile,
    configSource: options.configFile,
    overrideEnvVars: env,
  });
  const fromEnv = loaded.connectionOptions as ConnectionOptions;
  const apiKey = options.apiKey ?? (fromEnv.apiKey as string | undefined);
  const tls = options.tls ?? (options.apiKey !== undefined && fromEnv.tls === undefined ? true : fromEnv.tls);
  const connectionOptions: ConnectionOptions & { address: string } = {
    ...fromEnv,
    address: options.address ?? fromEnv.address ?? DEFAULT_TEMPORAL_ADDRESS,
  };
  if (apiKey !== undefined) connectionOptions.apiKey = apiKey;
  else delete connectionOptions.apiKey;
  if (tls !== undefined) connectionOptions.tls = tls;
  else delete connectionOptions.tls;
  if (!connectionOptions.metadata) delete connectionOptions.metadata;
  return { connectionOptions, namespace: options.namespace ?? loaded.namespace ?? DEFAULT_TEMPORAL_NAMESPACE };
}
