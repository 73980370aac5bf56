/**
 * The app's side of lifecycle webhooks, on loopback: verifies every request with the
 * Standard Webhooks reference library (`standardwebhooks`) and can misbehave on command:
 * answer 500s, never answer (the sender times out), or go down altogether.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';

export type ReceiverMode = 'ok' | 'error' | 'hang';

export interface Delivery {
  id: string;
  timestamp: string;
  body: string;
  event: { id: string; type: string; timestamp: string; data: { tenant: string; channel: string; user?: string } & Record<string, unknown> };
}

const eventSchema = z.object({
  id: z.string(),
  type: z.string(),
  timestamp: z.string(),
  data: z.looseObject({ tenant: z.string(), channel: z.string(), user: z.string().optional() }),
});

/** A webhook secret for tests: `whsec_` + base64 of 32 random-looking bytes. */
export function testSecret(seed: string): string {
  return `whsec_${Buffer.from(seed.padEnd(32, '#').slice(0, 32)).toString('base64')}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export class WebhookReceiver {
  /** Every request whose signature verified, whatever was answered. */
  readonly attempts: Delivery[] = [];
  /** Requests answered 2xx, in the order they were answered. */
  readonly accepted: Delivery[] = [];
  /** Requests whose signature did not verify. */
  rejected = 0;
  mode: ReceiverMode = 'ok';
  /** Tenants whose events are never answered, whatever `mode` says (a handler stuck on one tenant's data). */
  readonly hangTenants = new Set<string>();
  private readonly hanging: { delivery: Delivery; res: ServerResponse }[] = [];
  private server: Server;
  private port = 0;
  private readonly verifier: Webhook;

  private constructor(secret: string) {
    this.verifier = new Webhook(secret);
    this.server = this.createServer();
  }

  /** Verifies with `secret` only (the app may know just one of two rotating secrets). */
  static async start(secret: string): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(secret);
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  private createServer(): Server {
    return createServer((req, res) => {
      void readBody(req).then((body) => {
        const headers = { 'webhook-id': req.headers['webhook-id'], 'webhook-timestamp': req.headers['webhook-timestamp'], 'webhook-signature': req.headers['webhook-signature'] };
        let delivery: Delivery;
        try {
          this.verifier.verify(body, headers as Record<string, string>);
          delivery = { id: String(headers['webhook-id']), timestamp: String(headers['webhook-timestamp']), body, event: eventSchema.parse(JSON.parse(body)) };
        } catch {
          this.rejected++;
          res.writeHead(400).end();
          return;
        }
        this.attempts.push(delivery);
        if (this.mode === 'hang' || this.hangTenants.has(delivery.event.data.tenant)) {
          this.hanging.push({ delivery, res });
          return;
        }
        if (this.mode === 'error') {
          res.writeHead(500).end('receiver broken');
          return;
        }
        this.accepted.push(delivery);
        res.writeHead(204).end();
      });
    });
  }

  /** Listens (again, on the same port after `down()`). */
  async up(): Promise<void> {
    this.server = this.createServer();
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and drops open connections: the sender sees connection errors. */
  async down(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** After `delayMs`, answers 204 to every request still open (a slow app, not a broken one); resolves once answered. */
  async answerHanging(delayMs = 100): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    for (const { delivery, res } of this.hanging.splice(0)) {
      if (res.destroyed) continue;
      this.accepted.push(delivery);
      res.writeHead(204).end();
    }
  }

  /** Accepted deliveries, first acceptance per id (what an app that dedupes keeps). */
  unique(): Delivery[] {
    const seen = new Set<string>();
    return this.accepted.filter((delivery) => !seen.has(delivery.id) && seen.add(delivery.id));
  }

  /** Polls `done` until it holds; rejects after `timeoutMs`. */
  async waitFor(done: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`receiver: condition not met within ${timeoutMs} ms (${this.accepted.length} accepted, ${this.attempts.length} attempts)`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }
}
