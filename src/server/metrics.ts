/**
 * Prometheus metrics (`GET /metrics`). One registry per server instance so several
 * servers in one process (tests, embedding apps) never clash.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TenantStats } from '../../providers/types.js';
import type { DeliveryObserver } from './publish/delivery.js';
import type { DeliveryFailureLog } from './publish/delivery-failures.js';
import type { Network } from './net/network.js';

export class Metrics {
  readonly registry = new Registry();
  readonly publishes: Counter<'tenant' | 'provider' | 'status'>;
  readonly deliveries: Counter<'tenant' | 'provider'>;
  readonly authFailures: Counter<'route' | 'code'>;
  readonly providerErrors: Counter<'provider'>;
  readonly providerRetries: Counter<'provider'>;
  readonly deliveryFailures: Counter<'tenant' | 'provider'>;
  readonly publishLatency: Histogram<'provider'>;

  constructor(provider: string, stats?: () => TenantStats[] | Promise<TenantStats[]>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'switchboard_' });
    const registers = [this.registry];
    this.publishes = new Counter({ name: 'switchboard_publishes_total', help: 'Events accepted by /v1/publish', labelNames: ['tenant', 'provider', 'status'], registers });
    this.deliveries = new Counter({ name: 'switchboard_deliveries_total', help: 'Events handed to the provider', labelNames: ['tenant', 'provider'], registers });
    this.authFailures = new Counter({ name: 'switchboard_auth_failures_total', help: 'Requests refused with 401 or 403', labelNames: ['route', 'code'], registers });
    this.providerErrors = new Counter({ name: 'switchboard_provider_errors_total', help: 'Failed provider publish attempts', labelNames: ['provider'], registers });
    this.providerRetries = new Counter({ name: 'switchboard_provider_retries_total', help: 'Provider publish retries', labelNames: ['provider'], registers });
    this.deliveryFailures = new Counter({
      name: 'switchboard_delivery_failures_total',
      help: 'Events the provider refused for good (skipped, not retried)',
      labelNames: ['tenant', 'provider'],
      registers,
    });
    this.publishLatency = new Histogram({
      name: 'switchboard_publish_to_provider_seconds',
      help: 'From log append to the provider taking the event',
      labelNames: ['provider'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const snapshotGauge = (name: string, help: string, field: (row: TenantStats) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['tenant', 'provider'],
        registers,
        async collect() {
          this.reset();
          const rows = await Promise.resolve(stats?.()).catch(() => undefined);
          for (const row of rows ?? []) {
            const value = field(row);
            if (value !== undefined) this.set({ tenant: row.tenant, provider }, value);
          }
        },
      });
    snapshotGauge('switchboard_connections', 'Open connections with at least one channel of the tenant', (row) => row.connections);
    snapshotGauge('switchboard_subscriptions', 'Channel subscriptions', (row) =>
      row.channels.every((channel) => channel.subscribers !== undefined) ? row.channels.reduce((sum, channel) => sum + (channel.subscribers ?? 0), 0) : undefined,
    );
    snapshotGauge('switchboard_channels', 'Occupied channels', (row) => row.channels.length);
  }

  /** The descriptor budget, open inbound sockets and admission refusals. */
  observeNetwork(network: Network): void {
    const registers = [this.registry];
    const fixed = (name: string, help: string, value: number | undefined) => {
      if (value !== undefined) new Gauge({ name, help, registers }).set(value);
    };
    fixed('switchboard_open_files_limit', "The process's open-files limit (RLIMIT_NOFILE) the caps are derived from", network.budget.openFilesLimit);
    fixed('switchboard_websocket_connection_cap', 'WebSocket connections this process accepts (open-files limit minus the reserve)', network.budget.connectionCap);
    fixed('switchboard_inbound_socket_cap', 'Inbound sockets served normally; past it requests get 503 except health checks', network.http.socketCap);
    new Gauge({
      name: 'switchboard_inbound_sockets',
      help: 'Open inbound sockets (HTTP and WebSocket)',
      registers,
      collect() {
        this.set(network.servers.reduce((sum, server) => sum + server.openSockets(), 0));
      },
    });
    new Counter({
      name: 'switchboard_connections_refused_total',
      help: 'Connections and requests refused by admission control, by kind (http, websocket) and reason',
      labelNames: ['kind', 'reason'],
      registers,
      collect() {
        // The totals live in Refusals (the local provider counts there too); copied on each scrape.
        this.reset();
        for (const { kind, reason, count } of network.refusals.counts()) this.inc({ kind, reason }, count);
      },
    });
  }
}

/** Feeds delivery outcomes into the metrics; latency runs from the log append (`ts`) to the provider's answer. */
export function deliveryMetrics(metrics: Metrics, provider: string, failures: DeliveryFailureLog): DeliveryObserver {
  return {
    delivered(messages) {
      const now = Date.now();
      for (const { tenant, envelope } of messages) {
        metrics.deliveries.inc({ tenant, provider });
        metrics.publishLatency.observe({ provider }, Math.max(0, now - envelope.ts) / 1000);
      }
    },
    failed(_messages, attempt) {
      metrics.providerErrors.inc({ provider });
      if (attempt > 1) metrics.providerRetries.inc({ provider });
    },
    undeliverable(failure) {
      metrics.deliveryFailures.inc({ tenant: failure.tenant, provider });
      failures.record(failure);
    },
  };
}
