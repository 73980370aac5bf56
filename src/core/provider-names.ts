/**
 * Pure, injective and reversible mappings from (tenant, tenant-relative channel) to the
 * channel name each provider sees. The client wrapper uses the same functions, so
 * both sides always agree.
 *
 * Injectivity: namespaces and tenant ids contain neither '.' nor ':', and the channel
 * rest contains no '.', so the first two separators always split the three parts.
 */
import { assertTenantId, parseChannelName, TENANT_PATTERN } from './channels.js';
import { SwitchboardError } from './errors.js';

export const PUSHER_MAX_CHANNEL_LENGTH = 164;
/**
 * Realtime's binary frames carry the client topic (`realtime:` + topic) in at most 255
 * bytes, and every Supabase channel has a members topic (`#members` appended).
 */
export const SUPABASE_MAX_TOPIC_BYTES = 255 - 'realtime:'.length - '#members'.length;
export const ABLY_MAX_CHANNEL_LENGTH = 2048;

export interface TenantChannel {
  tenant: string;
  /** Tenant-relative name, e.g. `chat:general`. */
  channel: string;
}

export interface PusherChannel extends TenantChannel {
  presence: boolean;
}

/** The limit is the provider's, but stated for the tenant-relative name the app chose: it depends on the tenant id's length. */
function tooLong(provider: string, tenant: string, channel: string, name: string, limit: number): SwitchboardError {
  const overhead = name.length - channel.length;
  return new SwitchboardError(
    'invalid_channel',
    `Channel "${channel.slice(0, 40)}${channel.length > 40 ? '…' : ''}" is ${channel.length} characters; on ${provider} channels of tenant "${tenant}" may have at most ${limit - overhead} (the provider name would be ${name.length} of ${limit} characters)`,
  );
}

/** `{private|presence}-{namespace}.{tenant}.{rest with ':' as '.'}` */
export function toPusherChannel(tenant: string, channel: string, presence: boolean): string {
  assertTenantId(tenant);
  const { namespace, rest } = parseChannelName(channel);
  const name = `${presence ? 'presence' : 'private'}-${namespace}.${tenant}.${rest.replaceAll(':', '.')}`;
  if (name.length > PUSHER_MAX_CHANNEL_LENGTH) throw tooLong('Pusher', tenant, channel, name, PUSHER_MAX_CHANNEL_LENGTH);
  return name;
}

const PUSHER_NAME = /^(private|presence)-([a-z][a-z0-9_-]*)\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_\-=@,;.]+)$/;

/** Reverses {@link toPusherChannel}; returns undefined for names Switchboard never produces. */
export function fromPusherChannel(name: string): PusherChannel | undefined {
  if (name.length > PUSHER_MAX_CHANNEL_LENGTH) return undefined;
  const match = PUSHER_NAME.exec(name);
  if (!match) return undefined;
  const [, kind, namespace, tenant, rest] = match as unknown as [string, string, string, string, string];
  const channel = `${namespace}:${rest.replaceAll('.', ':')}`;
  try {
    parseChannelName(channel);
  } catch {
    return undefined;
  }
  return { tenant, channel, presence: kind === 'presence' };
}

function toColonName(tenant: string, channel: string): string {
  assertTenantId(tenant);
  const { namespace, rest } = parseChannelName(channel);
  return `${namespace}:${tenant}:${rest}`;
}

function fromColonName(name: string): TenantChannel | undefined {
  const first = name.indexOf(':');
  const second = name.indexOf(':', first + 1);
  if (first <= 0 || second < 0) return undefined;
  const tenant = name.slice(first + 1, second);
  const channel = `${name.slice(0, first)}:${name.slice(second + 1)}`;
  if (!TENANT_PATTERN.test(tenant)) return undefined;
  try {
    parseChannelName(channel);
  } catch {
    return undefined;
  }
  return { tenant, channel };
}

/** `{namespace}:{tenant}:{rest}` — Ably treats ':' as its namespace separator. */
export function toAblyChannel(tenant: string, channel: string): string {
  const name = toColonName(tenant, channel);
  if (name.length > ABLY_MAX_CHANNEL_LENGTH) throw tooLong('Ably', tenant, channel, name, ABLY_MAX_CHANNEL_LENGTH);
  return name;
}

export const fromAblyChannel = fromColonName;

/** `{namespace}:{tenant}:{rest}` as a Supabase Realtime topic (ASCII, so bytes == chars). */
export function toSupabaseTopic(tenant: string, channel: string): string {
  const name = toColonName(tenant, channel);
  if (name.length > SUPABASE_MAX_TOPIC_BYTES) throw tooLong('Supabase', tenant, channel, name, SUPABASE_MAX_TOPIC_BYTES);
  return name;
}

export const fromSupabaseTopic = fromColonName;

/**
 * The Pusher user id of a signed-in user (`pusher:signin`): tenant-scoped, because the
 * Pusher app (and its `/users/{id}` API) is shared by every tenant. Neither tenant ids
 * nor user ids contain ':', so the mapping is injective.
 */
export function toPusherUserId(tenant: string, user: string): string {
  assertTenantId(tenant);
  return `${tenant}:${user}`;
}

/**
 * The topic of a channel's members (presence and whispers). Server events travel on the
 * channel's own topic, which clients may only read, so no member can forge them.
 * `#` never occurs in a topic, which keeps the mapping injective.
 */
export function toSupabaseMembersTopic(tenant: string, channel: string): string {
  return `${toSupabaseTopic(tenant, channel)}#members`;
}
