/**
 * Opens an SSE stream: `EventSource` where the platform has it (browsers), otherwise
 * `fetch` with a streamed body and our own parser (Node 20). Neither reconnects by
 * itself here: the wrapper reopens with a fresh token and its own backoff.
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
  /** Use fetch even where EventSource exists. */
  preferFetch?: boolean;
}

export function openEventStream(url: string, options: EventStreamOptions, handlers: EventStreamHandlers): EventStream {
  const EventSourceImpl = globalThis.EventSource;
  if (EventSourceImpl && !options.preferFetch) return viaEventSource(EventSourceImpl, url, handlers);
  return viaFetch(url, options, handlers);
}

function onceClosed(handlers: EventStreamHandlers): (error: SwitchboardError) => void {
  let closed = false;
  return (error) => {
    if (closed) return;
    closed = true;
    handlers.onClose(error);
  };
}

function viaEventSource(Impl: typeof EventSource, url: string, handlers: EventStreamHandlers): EventStream {
  const source = new Impl(url);
  const close = onceClosed(handlers);
  source.onopen = () => handlers.onOpen();
  source.onmessage = (event: MessageEvent<string>) => handlers.onMessage({ id: event.lastEventId || undefined, event: 'message', data: event.data });
  source.onerror = () => {
    source.close();
    close(new SwitchboardError('provider_unavailable', 'Event stream closed'));
  };
  return {
    close() {
      source.close();
    },
  };
}

function viaFetch(url: string, options: EventStreamOptions, handlers: EventStreamHandlers): EventStream {
  const abort = new AbortController();
  const close = onceClosed(handlers);
  const run = async () => {
    const response = await options.fetch(url, { headers: { accept: 'text/event-stream' }, signal: abort.signal, cache: 'no-store' });
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
