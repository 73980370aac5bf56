/** Signed requests to the Pusher HTTP API (pusher-docs rest-api.md). */
import type { z } from 'zod';
import { deadline } from '../../src/core/deadline.js';
import { SwitchboardError } from '../../src/core/errors.js';
import { signRequest } from '../pusher-protocol/index.js';
import type { PusherProviderOptions } from './options.js';

export interface PusherRequest {
  method: 'GET' | 'POST';
  /** Path after `/apps/{app_id}`, e.g. `/batch_events`. */
  path: string;
  params?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
}

/** Pusher answered with an HTTP error status (as opposed to not answering at all). */
export class PusherHttpStatusError extends SwitchboardError {
  constructor(
    readonly httpStatus: number,
    message: string,
  ) {
    super('provider_unavailable', message);
  }
}

/** No Pusher request may hang longer than this, whatever the caller's own signal says. */
export const PUSHER_REQUEST_TIMEOUT_MS = 10_000;

export class PusherHttpClient {
  private readonly baseUrl: string;

  constructor(private readonly options: PusherProviderOptions) {
    const host = options.host ?? `api-${options.cluster}.pusher.com`;
    const port = options.port === undefined ? '' : `:${options.port}`;
    this.baseUrl = `${options.useTLS ? 'https' : 'http'}://${host}${port}`;
  }

  async request<T>(request: PusherRequest, schema: z.ZodType<T>): Promise<T> {
    const path = `/apps/${this.options.appId}${request.path}`;
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const query = signRequest(
      { key: this.options.key, secret: this.options.secret },
      { method: request.method, path, ...(request.params ? { params: request.params } : {}), ...(body === undefined ? {} : { body }) },
    );
    const fetchImpl = this.options.fetch ?? globalThis.fetch;
    const limit = deadline(PUSHER_REQUEST_TIMEOUT_MS, ...(request.signal ? [request.signal] : []));
    let text: string;
    let response: Response;
    try {
      try {
        response = await fetchImpl(`${this.baseUrl}${path}?${query}`, {
          method: request.method,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body }),
          signal: limit.signal,
        });
        text = await response.text();
      } finally {
        limit.dispose();
      }
    } catch (error) {
      if (request.signal?.aborted) throw error;
      throw new SwitchboardError('provider_unavailable', `Pusher ${request.method} ${request.path} failed: ${(error as Error).message}`);
    }
    if (!response.ok) {
      throw new PusherHttpStatusError(response.status, `Pusher ${request.method} ${request.path} answered ${response.status}: ${text.slice(0, 200)}`);
    }
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new SwitchboardError('provider_unavailable', `Pusher ${request.method} ${request.path} answered with invalid JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new SwitchboardError('provider_unavailable', `Pusher ${request.method} ${request.path} answered an unexpected shape`);
    return parsed.data;
  }
}
