import { randomUUID } from 'crypto';

import { MessageAttributeValue, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Inject, Injectable, Optional } from '@nestjs/common';

import type { AudioAnalysisRequest } from '../generated/audio-analysis-request';
import type { DuplicateFileRequest } from '../generated/duplicate-file-request';
import type { HashRequest } from '../generated/hash-request';
import type { MixRequest } from '../generated/mix-request';
import { WAVEFLOW_OPTIONS, WAVEFLOW_SQS_CLIENT, WaveFlowOptions } from '../waveflow.options';

export type WaveFlowTask =
  | 'generate_hash_and_webhook'
  | 'process_audio_analysis'
  | 'process_duplicate_file'
  | 'mix_stems_and_upload';

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

/** The four messages the server sends WaveFlow over SQS. */
@Injectable()
export class WaveFlowProducer {
  private readonly sqs: SQSClient;

  /** The SQS client is `options.region`'s (endpoint and credentials from the AWS environment) unless one is
   * provided as WAVEFLOW_SQS_CLIENT. */
  constructor(
    @Inject(WAVEFLOW_OPTIONS) private readonly options: WaveFlowOptions,
    @Optional() @Inject(WAVEFLOW_SQS_CLIENT) sqs?: SQSClient,
  ) {
    this.sqs = sqs ?? new SQSClient({ region: options.region });
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

  /** Sends the envelope; returns its task id. */
  async send<K>(task: WaveFlowTask, kwargs: K, options: SendOptions = {}): Promise<string> {
    const envelope: TaskEnvelope<K> = { task: `app.tasks.${task}`, id: options.id ?? randomUUID(), args: [], kwargs };
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
