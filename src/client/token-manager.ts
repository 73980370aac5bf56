/**
 * Holds the capability token: fetches it from `/v1/token` with the app's session,
 * refreshes it at 80% of its lifetime (at the latest 10 s before it expires) and on
 * demand (after a 401), and shares one
 * request between concurrent callers. A session the BFF rejects (401/403) is final.
 */
import { SwitchboardError } from '../core/errors.js';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { Emitter } from './emitter.js';
import { fetchToken, type Bff } from './http.js';
import type { ClientToken } from './schemas.js';

/** The app's own session token, or a function returning a fresh one. */
export type SessionSource = string | (() => string | Promise<string>);

const REFRESH_AT = 0.8;
/** Renew at the latest this long before expiry: live subscriptions end with the token they were authorized under. */
const REFRESH_MARGIN_MS = 10_000;
const MIN_REFRESH_MS = 1000;

export function isSessionRejected(error: unknown): boolean {
  return error instanceof SwitchboardError && (error.status === 401 || error.status === 403);
}

export class TokenManager {
  private token: ClientToken | undefined;
  private pending: Promise<ClientToken> | undefined;
  /** A `renew()` waiting for `pending` to settle; it reads the session once it starts. */
  private queued: Promise<ClientToken> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  readonly events = new Emitter<{ token: [ClientToken]; error: [SwitchboardError, boolean] }>();

  constructor(
    private readonly bff: Bff,
    private readonly session: SessionSource | undefined,
  ) {}

  get current(): ClientToken | undefined {
    return this.token;
  }

  /** The current token; a new one when `refresh` is set or the current one is about to expire. */
  get(refresh = false): Promise<ClientToken> {
    if (this.closed) return Promise.reject(new SwitchboardError('unauthenticated', 'Client is closed'));
    if (!refresh && this.token && this.token.expiresAt - Date.now() > MIN_REFRESH_MS) return Promise.resolve(this.token);
    if (this.pending) return this.pending;
    const next: Promise<ClientToken> = this.fetch().finally(() => {
      if (this.pending === next) this.pending = undefined;
    });
    this.pending = next;
    return next;
  }

  /**
   * A new token from the session as the app answers it now: unlike `get(true)`, it does
   * not join a request already under way, which may have read the session before it
   * changed; it queues behind it (calls while one is queued share it, so a burst makes at
   * most two requests). A refusal leaves the current token in place and is not fatal
   * here: the app asked, so the app gets the error.
   */
  renew(): Promise<ClientToken> {
    if (this.closed) return Promise.reject(new SwitchboardError('unauthenticated', 'Client is closed'));
    if (this.queued) return this.queued;
    const before = this.pending?.catch(() => undefined);
    const fetched: Promise<ClientToken> = before
      ? before.then(() => {
          this.queued = undefined;
          return this.fetch();
        })
      : this.fetch();
    const next = fetched.finally(() => {
      if (this.pending === next) this.pending = undefined;
    });
    if (before) this.queued = next;
    this.pending = next;
    return next;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async fetch(): Promise<ClientToken> {
    const session = typeof this.session === 'function' ? await this.session() : this.session;
    const token = await fetchToken(this.bff, session);
    if (this.closed) return token;
    this.token = token;
    this.schedule(token, 0);
    this.events.emit('token', token);
    return token;
  }

  private schedule(token: ClientToken, failures: number): void {
    clearTimeout(this.timer);
    const lifetime = token.expiresAt - Date.now();
    const delay = failures === 0 ? Math.max(MIN_REFRESH_MS, Math.min(lifetime * REFRESH_AT, lifetime - REFRESH_MARGIN_MS)) : backoffDelay(failures, DEFAULT_BACKOFF);
    this.timer = setTimeout(() => {
      this.get(true).catch((error: unknown) => {
        const fatal = isSessionRejected(error);
        this.events.emit('error', error instanceof SwitchboardError ? error : new SwitchboardError('provider_unavailable', String(error)), fatal);
        if (!fatal && !this.closed) this.schedule(token, failures + 1);
      });
    }, delay);
    // A pending refresh must not keep a Node process alive.
    (this.timer as { unref?: () => void }).unref?.();
  }
}
