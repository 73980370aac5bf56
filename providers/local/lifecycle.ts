/**
 * The local server's lifecycle source: the hub reports occupancy and presence changes on
 * this node, and they leave here as the same normalized `WebhookEvent`s hosted providers'
 * webhooks become (tenant-relative channels), for the BFF's lifecycle stream.
 */
import { fromPusherChannel } from '../../src/core/provider-names.js';
import type { WebhookEvent } from '../types.js';
import type { HubLifecycle } from './hub.js';

export type LifecycleListener = (event: WebhookEvent) => void;

export class LocalLifecycle implements HubLifecycle {
  private listener: LifecycleListener | undefined;

  listen(listener: LifecycleListener): void {
    this.listener = listener;
  }

  occupied(name: string): void {
    this.report(name, (tenant, channel) => ({ kind: 'channel_occupied', tenant, channel }));
  }

  vacated(name: string): void {
    this.report(name, (tenant, channel) => ({ kind: 'channel_vacated', tenant, channel }));
  }

  memberJoined(name: string, userId: string): void {
    this.report(name, (tenant, channel) => ({ kind: 'member_added', tenant, channel, userId }));
  }

  memberLeft(name: string, userId: string): void {
    this.report(name, (tenant, channel) => ({ kind: 'member_removed', tenant, channel, userId }));
  }

  private report(name: string, build: (tenant: string, channel: string) => WebhookEvent): void {
    if (!this.listener) return;
    // Channels outside Switchboard's naming (apps signing their own subscriptions) are not reported.
    const parsed = fromPusherChannel(name);
    if (parsed) this.listener(build(parsed.tenant, parsed.channel));
  }
}
