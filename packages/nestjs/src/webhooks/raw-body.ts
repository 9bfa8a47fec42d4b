import { Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'http';

import { WEBHOOK_KINDS } from '../validation/validators';

/** Larger bodies are answered 413; WaveFlow's webhooks are a few KiB. */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

const WEBHOOK_PATH = new RegExp(`/(${WEBHOOK_KINDS.join('|')})/?$`);

type RawRequest = IncomingMessage & { rawBody?: Buffer; body?: unknown; _body?: boolean; originalUrl?: string };

/**
 * Keeps the exact bytes of WaveFlow's webhooks, which the signature covers, on apps created without
 * `{ rawBody: true }`. Nest instantiates providers inside `NestFactory.create()`, before `app.init()` registers
 * its JSON body parser; this provider registers, at that moment, an Express middleware that reads the body of
 * `POST …/<kind>` (`hash-check`, `completion`, `mixing-complete`: the routes the guard serves) itself: it sets `req.rawBody` (the bytes) and `req.body` (their JSON), and the body
 * parsers that come after find the request already read and leave it alone. Other routes are untouched.
 *
 * Express only: on another platform (Fastify) create the app with `{ rawBody: true }`.
 */
@Injectable()
export class WaveFlowRawBody {
  private readonly logger = new Logger('WaveFlowRawBody');

  constructor(adapterHost: HttpAdapterHost) {
    const adapter = adapterHost?.httpAdapter;
    if (!adapter) return; // a standalone application context: no HTTP server, no webhooks
    if (adapter.getType() !== 'express') {
      this.logger.warn(
        `the ${adapter.getType()} platform: WaveFlow's webhooks need NestFactory.create(AppModule, { rawBody: true })`,
      );
      return;
    }
    adapter.use(keepRawWebhookBody);
  }
}

/** The Express middleware itself: reads the body of a webhook POST into `req.rawBody` and `req.body`. */
export function keepRawWebhookBody(request: RawRequest, response: ServerResponse, next: (error?: unknown) => void): void {
  const path = (request.originalUrl ?? request.url ?? '').split('?')[0];
  if (request.method !== 'POST' || !WEBHOOK_PATH.test(path) || request.rawBody || request._body) {
    next();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  request.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > WEBHOOK_BODY_LIMIT && !failed) {
      failed = true;
      response.statusCode = 413;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ statusCode: 413, message: 'webhook body too large' }));
      request.destroy();
      return;
    }
    if (!failed) chunks.push(chunk);
  });
  request.on('error', (error) => {
    if (!failed) next(error);
  });
  request.on('end', () => {
    if (failed) return;
    const raw = Buffer.concat(chunks);
    request.rawBody = raw;
    request._body = true; // body-parser 1.x: already parsed
    try {
      request.body = raw.length ? JSON.parse(raw.toString('utf8')) : {};
    } catch {
      request.body = {}; // the guard refuses it: the signature cannot match a body that is not WaveFlow's
    }
    next();
  });
}
