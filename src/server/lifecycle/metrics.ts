/** Prometheus counters for lifecycle webhooks, on the server's own registry (see metrics.ts). */
import { Counter, type Registry } from 'prom-client';
import type { WebhookAttemptResult, WebhookSenderObserver } from './sender.js';

export function webhookMetrics(registry: Registry): WebhookSenderObserver {
  const attempts = new Counter({
    name: 'switchboard_webhook_attempts_total',
    help: 'Lifecycle webhook requests to the app: delivered, failed (will retry) or dead (given up)',
    labelNames: ['result'],
    registers: [registry],
  });
  return {
    attempted(result: WebhookAttemptResult) {
      attempts.inc({ result });
    },
  };
}
