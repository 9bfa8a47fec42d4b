import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import type { Client } from '@temporalio/client';

import type { DedupeDecision } from '../generated/signals/decide';
import type { DecisionReceipt } from '../generated/updates/decide.result';
import { validateDecision, validateDecisionReceipt } from '../validation/validators';
import { ResolvedWaveFlowOptions, WAVEFLOW_OPTIONS } from '../waveflow.options';
import { loadTemporalConnectConfig, TemporalConnectConfig } from './temporal-config';

/**
 * The optional direct path to a stem's workflow `stem-<stemId>`, for a server that runs a Temporal client:
 * the same decision as the SQS message, as the `decide` update (checked and answered) or signal (fire and
 * forget). WaveFlow's payloads are plain JSON, which the default data converter reads and writes. Connects on
 * first use, configured as the `temporal` CLI is (see loadTemporalConnectConfig).
 */
@Injectable()
export class WaveFlowTemporal implements OnModuleDestroy {
  private client?: Promise<Client>;

  constructor(@Inject(WAVEFLOW_OPTIONS) private readonly options: ResolvedWaveFlowOptions) {}

  /** Where this connects (or would): address, namespace, TLS and API key as resolved. */
  get config(): TemporalConnectConfig {
    if (this.options.temporal === false) throw new Error('WaveFlow: the direct Temporal path is switched off (temporal: false)');
    return loadTemporalConnectConfig(this.options.temporal);
  }

  /** Answers `accepted` or `already_decided` (with the decision in force); rejects a decision it refuses. */
  async decide(stemId: string, decision: DedupeDecision): Promise<DecisionReceipt> {
    if (this.options.validate) validateDecision(decision);
    const { WorkflowUpdateFailedError } = await import('@temporalio/client');
    const handle = (await this.connect()).workflow.getHandle(`stem-${stemId}`);
    try {
      const receipt = await handle.executeUpdate<DecisionReceipt, [DedupeDecision]>('decide', { args: [decision] });
      return this.options.validate ? validateDecisionReceipt(receipt) : receipt;
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        throw new Error(`WaveFlow refused the decision for ${stemId}: ${error.cause?.message ?? error.message}`);
      }
      throw error;
    }
  }

  /** The same decision as a signal: no answer, as the SQS path. */
  async signalDecision(stemId: string, decision: DedupeDecision): Promise<void> {
    if (this.options.validate) validateDecision(decision);
    await (await this.connect()).workflow.getHandle(`stem-${stemId}`).signal<[DedupeDecision]>('decide', decision);
  }

  async onModuleDestroy(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await (await client).connection.close().catch(() => undefined);
  }

  /** The client, connected on first use. */
  connect(): Promise<Client> {
    if (!this.client) {
      const { connectionOptions, namespace } = this.config;
      this.client = import('@temporalio/client').then(async ({ Client, Connection }) => {
        const connection = await Connection.connect(connectionOptions);
        return new Client({ connection, namespace });
      });
      this.client.catch(() => (this.client = undefined));
    }
    return this.client;
  }
}
