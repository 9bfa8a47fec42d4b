import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';

import type { DecisionReceipt } from '../generated/decision-receipt';
import type { DedupeDecision } from '../generated/dedupe-decision';
import { WAVEFLOW_OPTIONS, WaveFlowOptions } from '../waveflow.options';

/**
 * The optional direct path to a stem's workflow `stem-<stemId>`, for a server that runs a Temporal client:
 * the same decision as the SQS message, as the `decide` update (checked and answered) or signal (fire and
 * forget). WaveFlow's payloads are plain JSON, which the default data converter reads and writes.
 */
@Injectable()
export class WaveFlowTemporal implements OnModuleDestroy {
  private client?: Promise<Client>;

  constructor(@Inject(WAVEFLOW_OPTIONS) private readonly options: WaveFlowOptions) {}

  /** Answers `accepted` or `already_decided` (with the decision in force); rejects a decision it refuses. */
  async decide(stemId: string, decision: DedupeDecision): Promise<DecisionReceipt> {
    const handle = (await this.connect()).workflow.getHandle(`stem-${stemId}`);
    try {
      return await handle.executeUpdate<DecisionReceipt, [DedupeDecision]>('decide', { args: [decision] });
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        throw new Error(`WaveFlow refused the decision for ${stemId}: ${error.cause?.message ?? error.message}`);
      }
      throw error;
    }
  }

  /** The same decision as a signal: no answer, as the SQS path. */
  async signalDecision(stemId: string, decision: DedupeDecision): Promise<void> {
    await (await this.connect()).workflow.getHandle(`stem-${stemId}`).signal<[DedupeDecision]>('decide', decision);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.client) await (await this.client).connection.close();
  }

  private connect(): Promise<Client> {
    const temporal = this.options.temporal;
    if (!temporal) throw new Error('WaveFlowOptions.temporal is not set: use WaveFlowProducer (SQS) instead');
    this.client ??= Connection.connect({ address: temporal.address }).then(
      (connection) => new Client({ connection, namespace: temporal.namespace ?? 'default' }),
    );
    return this.client;
  }
}
