/**
 * The connection supervisor: one loop that fetches the token, loads and connects the
 * transport, and after a failure or drop waits (exponential backoff, full jitter,
 * capped) and tries again — the same on every provider. After repeated failures to
 * reach the provider it switches to the BFF's SSE stream, when allowed, and keeps probing
 * the provider in the background to switch back once it answers.
 */
import { SwitchboardError } from '../core/errors.js';
import type { ClientTransport, TransportContext } from '../../providers/types.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { toSwitchboardError } from './errors.js';
import type { Bff } from './http.js';
import type { ClientToken } from './schemas.js';
import { isSessionRejected, type TokenManager } from './token-manager.js';
import { loadTransportFactory, type TransportFactories } from './transports.js';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'failed';

export interface SupervisorOptions {
  bff: Bff;
  tokens: TokenManager;
  backoff: BackoffOptions;
  connectTimeoutMs: number;
  /** `sse`: use the BFF stream only. */
  transport: 'auto' | 'sse';
  /** Failed provider connection attempts before switching to SSE; 0 = never. */
  fallbackAfterAttempts: number;
  /** While on the SSE fallback, how often to try the provider again. */
  upgradeProbeMs: number;
  transports: TransportFactories;
}

export class Supervisor {
  state: ConnectionState = 'connecting';
  error: SwitchboardError | undefined;
  transport: ClientTransport | undefined;
  readonly events = new Emitter<{ change: [ConnectionState, SwitchboardError | undefined]; transport: [ClientTransport]; warning: [SwitchboardError] }>();
  private offWarning: (() => void) | undefined;
  private closed = false;
  private everConnected = false;
  private refreshToken = false;
  /** Failed connection attempts since the last success: decides the SSE fallback. */
  private connectFailures = 0;
  private interrupt: (() => void) | undefined;

  constructor(private readonly options: SupervisorOptions) {
    options.tokens.events.on('token', (token) => this.transport?.updateToken(token));
    options.tokens.events.on('error', (error, fatal) => {
      if (fatal) this.fail(error);
    });
  }

  start(): void {
    void this.run();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.shutdown();
    this.set('disconnected', undefined);
  }

  private get context(): TransportContext {
    const { bff, tokens, connectTimeoutMs } = this.options;
    return { baseUrl: bff.baseUrl, fetch: bff.fetch, connectTimeoutMs, token: (refresh) => tokens.get(refresh) };
  }

  private async run(): Promise<void> {
    let failure: SwitchboardError | undefined;
    for (let attempt = 0; !this.closed; attempt++) {
      if (attempt > 0) {
        this.set(this.everConnected ? 'reconnecting' : 'connecting', failure);
        await this.sleep(backoffDelay(attempt - 1, this.options.backoff));
        if (this.closed) return;
      }
      let token: ClientToken;
      try {
        token = await this.options.tokens.get(this.refreshToken);
        this.refreshToken = false;
      } catch (error) {
        failure = toSwitchboardError(error);
        if (isSessionRejected(error)) return this.fail(failure);
        continue;
      }
      try {
        const transport = await this.ensureTransport(token);
        if (this.closed) return;
        await transport.connect();
        if (this.closed) return;
        this.everConnected = true;
        this.connectFailures = 0;
        this.set('connected', undefined);
        failure = await this.whileConnected(transport);
        attempt = 0;
      } catch (error) {
        failure = toSwitchboardError(error);
        this.connectFailures++;
      }
      if (this.closed) return;
      if (failure?.code === 'forbidden') return this.fail(failure);
      if (failure?.status === 401) this.refreshToken = true;
    }
  }

  private async ensureTransport(token: ClientToken): Promise<ClientTransport> {
    const { fallbackAfterAttempts } = this.options;
    const useSse =
      this.options.transport === 'sse' || (fallbackAfterAttempts > 0 && this.connectFailures >= fallbackAfterAttempts);
    if (this.transport && (!useSse || this.transport.kind === 'sse')) return this.transport;
    let transport: ClientTransport;
    if (useSse) {
      // Loaded on demand like provider transports: most apps never need it.
      transport = (await import('./sse/transport.js')).createSseTransport(token, this.context);
    } else {
      try {
        transport = (await loadTransportFactory(token.provider.name, this.options.transports))(token, this.context);
      } catch (error) {
        throw toSwitchboardError(error);
      }
    }
    this.adopt(transport);
    return transport;
  }

  /** Runs until the live transport drops; on the SSE fallback, swaps in the provider as soon as a probe connects. */
  private async whileConnected(transport: ClientTransport): Promise<SwitchboardError | undefined> {
    let current = transport;
    for (;;) {
      const onFallback = this.options.transport !== 'sse' && current.kind === 'sse';
      const outcome = await (onFallback ? this.untilDroppedOrUpgraded(current) : this.untilDropped(current));
      if (!(outcome instanceof Object && 'upgrade' in outcome)) return outcome;
      this.connectFailures = 0;
      this.adopt(outcome.upgrade);
      current = outcome.upgrade;
    }
  }

  private untilDroppedOrUpgraded(transport: ClientTransport): Promise<SwitchboardError | undefined | { upgrade: ClientTransport }> {
    return new Promise((resolve) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (outcome: SwitchboardError | undefined | { upgrade: ClientTransport }) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        off();
        this.interrupt = undefined;
        resolve(outcome);
      };
      const off = transport.onDrop((error) => finish(error));
      this.interrupt = () => finish(undefined);
      const probe = async () => {
        const upgrade = await this.probeProvider();
        if (upgrade && (done || this.closed)) upgrade.close();
        else if (upgrade) finish({ upgrade });
        else if (!done) timer = setTimeout(() => void probe(), this.options.upgradeProbeMs);
      };
      timer = setTimeout(() => void probe(), this.options.upgradeProbeMs);
    });
  }

  /** A connected provider transport, or undefined while the provider still cannot be reached. */
  private async probeProvider(): Promise<ClientTransport | undefined> {
    let probe: ClientTransport | undefined;
    try {
      // A fresh token: the provider config it carries may have changed since the fallback.
      const token = await this.options.tokens.get(true);
      probe = (await loadTransportFactory(token.provider.name, this.options.transports))(token, this.context);
      await probe.connect();
      return probe;
    } catch {
      probe?.close();
      return undefined;
    }
  }

  private adopt(transport: ClientTransport): void {
    this.offWarning?.();
    this.transport?.close();
    this.transport = transport;
    this.offWarning = transport.onWarning?.((warning) => this.events.emit('warning', warning));
    this.events.emit('transport', transport);
  }

  private untilDropped(transport: ClientTransport): Promise<SwitchboardError | undefined> {
    return new Promise((resolve) => {
      const off = transport.onDrop((error) => {
        off();
        this.interrupt = undefined;
        resolve(error);
      });
      this.interrupt = () => {
        off();
        resolve(undefined);
      };
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.interrupt = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = done;
    });
  }

  private fail(error: SwitchboardError): void {
    if (this.closed) return;
    this.closed = true;
    this.error = error;
    this.shutdown();
    this.set('failed', error);
  }

  private shutdown(): void {
    this.options.tokens.close();
    this.transport?.close();
    this.interrupt?.();
  }

  private set(state: ConnectionState, error: SwitchboardError | undefined): void {
    if (state === this.state && error === this.error) return;
    this.state = state;
    this.error = error;
    this.events.emit('change', state, error);
  }
}
