import { randomUUID } from 'crypto';

import type { MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import { Inject, Injectable, Optional } from '@nestjs/common';

import type { AudioAnalysisRequest } from '../generated/messages/process_audio_analysis';
import type { DuplicateFileRequest } from '../generated/messages/process_duplicate_file';
import type { HashRequest } from '../generated/messages/generate_hash_and_webhook';
import type { MixRequest } from '../generated/messages/mix_stems_and_upload';
import { validateMessage, WaveFlowTask } from '../validation/validators';
import { ResolvedWaveFlowOptions, WAVEFLOW_OPTIONS, WAVEFLOW_SQS_CLIENT } from '../waveflow.options';

/** The NestJS task envelope WaveFlow's bridge reads: `{task, id, args, kwargs}`. */
export interface TaskEnvelope<K> {
  task: `app.tasks.${WaveFlowTask}`;
  id: string;
  args: [];
  kwargs: K;
}

export interface SendOptions {
  /** The message's task id; a redelivery of the same id starts nothing new. Default: a random UUID. */
  id?: string;
  /** W3C trace context, so that the stem's trace in WaveFlow continues this request's trace. */
  traceparent?: string;
}

/**
 * The four messages the server sends WaveFlow over SQS (`@aws-sdk/client-sqs`). Each is checked against
 * WaveFlow's schema before it is sent: a message WaveFlow would refuse as poison throws
 * WaveFlowValidationError here instead.
 */
@Injectable()
export class WaveFlowProducer {
  private sqs?: SQSClient;

  /** The SQS client is made from `options.region` and the AWS environment (endpoint, credentials) on the
   * first send, unless one is provided as WAVEFLOW_SQS_CLIENT (or `sqsClient` of the module). */
  constructor(
    @Inject(WAVEFLOW_OPTIONS) private readonly options: ResolvedWaveFlowOptions,
    @Optional() @Inject(WAVEFLOW_SQS_CLIENT) sqs?: SQSClient,
  ) {
    this.sqs = sqs ?? undefined;
  }

  /** A new stem in S3: WaveFlow hashes it and POSTs /hash-check. */
  requestHash(request: HashRequest, options?: SendOptions): Promise<string> {
    return this.send('generate_hash_and_webhook', request, options);
  }

  /** The decision after /hash-check: a new file, analyse it (waveform) and POST /completion. */
  decideAnalysis(request: AudioAnalysisRequest, options?: SendOptions): Promise<string> {
    return this.send('process_audio_analysis', request, options);
  }

  /** The decision after /hash-check: a duplicate, delete it and POST /completion. */
  decideDuplicate(request: DuplicateFileRequest, options?: SendOptions): Promise<string> {
    return this.send('process_duplicate_file', request, options);
  }

  /** Mix a stage's stems into one file; WaveFlow POSTs /mixing-complete. */
  requestMixdown(request: MixRequest, options?: SendOptions): Promise<string> {
    return this.send('mix_stems_and_upload', request, options);
  }

  /** Validates and sends the envelope; returns its task id. */
  async send<K>(task: WaveFlowTask, kwargs: K, options: SendOptions = {}): Promise<string> {
    if (!this.options.queueUrl) throw new Error('WaveFlow: no queue URL (SQS_QUEUE_URL or the queueUrl option)');
    const envelope: TaskEnvelope<K> = { task: `app.tasks.${task}`, id: options.id ?? randomUUID(), args: [], kwargs };
    if (this.options.validate) validateMessage(task, envelope);
    const { SendMessageCommand, SQSClient } = await import('@aws-sdk/client-sqs');
    this.sqs ??= new SQSClient({ region: this.options.region });
    const attributes: Record<string, MessageAttributeValue> = {};
    if (options.traceparent) attributes.traceparent = { DataType: 'String', StringValue: options.traceparent };
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.options.queueUrl,
        MessageBody: JSON.stringify(envelope),
        MessageAttributes: Object.keys(attributes).length ? attributes : undefined,
      }),
    );
    return envelope.id;
  }
}
