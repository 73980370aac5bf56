/**
 * Opens an SSE stream with `fetch` and a streamed body, in browsers and Node alike.
 * Not `EventSource`: it cannot send an Authorization header (the token would sit in the
 * URL, and in every proxy log), hides the HTTP status of a refusal, and fires
 * `onmessage` only for unnamed events while every Switchboard event is named.
 * It does not reconnect by itself: the wrapper reopens with a fresh token and its own backoff.
 */
import { SwitchboardError } from '../../core/errors.js';
import { errorFromResponse } from '../errors.js';
import { SseParser, type SseMessage } from './parser.js';

export interface EventStreamHandlers {
  onOpen(): void;
  onMessage(message: SseMessage): void;
  /** The stream ended or failed, before or after opening. Called at most once. */
  onClose(error: SwitchboardError): void;
}

export interface EventStream {
  close(): void;
}

export interface EventStreamOptions {
  fetch: typeof fetch;
  /** Capability token, sent as `Authorization: Bearer`. */
  token: string;
}

function onceClosed(handlers: EventStreamHandlers): (error: SwitchboardError) => void {
  let closed = false;
  return (error) => {
    if (closed) return;
    closed = true;
    handlers.onClose(error);
  };
}

export function openEventStream(url: string, options: EventStreamOptions, handlers: EventStreamHandlers): EventStream {
  const abort = new AbortController();
  const close = onceClosed(handlers);
  const run = async () => {
    const response = await options.fetch(url, { headers: { accept: 'text/event-stream', authorization: `Bearer ${options.token}` }, signal: abort.signal, cache: 'no-store' });
    if (!response.ok) throw await errorFromResponse(response, 'Event stream');
    if (!response.body) throw new SwitchboardError('provider_unavailable', 'Event stream has no body');
    handlers.onOpen();
    const parser = new SseParser((message) => handlers.onMessage(message));
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.push(decoder.decode(value, { stream: true }));
    }
    throw new SwitchboardError('provider_unavailable', 'Event stream ended');
  };
  run().catch((error: unknown) => {
    if (abort.signal.aborted) return;
    close(error instanceof SwitchboardError ? error : new SwitchboardError('provider_unavailable', `Event stream failed: ${String(error)}`));
  });
  return {
    close() {
      abort.abort();
    },
  };
}
