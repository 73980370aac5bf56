import { SwitchboardError } from './errors.js';

/** A tenant is the isolation boundary; its id only ever comes from verified identity. */
export const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const NAMESPACE_PATTERN = /^[a-z][a-z0-9_-]*$/;
/** The part after the namespace. No '.', so provider mappings can use it as a separator. */
export const CHANNEL_REST_PATTERN = /^[A-Za-z0-9_\-=@,;:]+$/;
export const MAX_CHANNEL_LENGTH = 200;

export interface ChannelName {
  /** The tenant-relative name, e.g. `orders:1001`. */
  name: string;
  namespace: string;
  rest: string;
}

/** Explains why a tenant-relative channel name is invalid, or returns undefined when it is fine. */
export function channelNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'channel name is empty';
  if (name.length > MAX_CHANNEL_LENGTH) return `channel name is longer than ${MAX_CHANNEL_LENGTH} characters`;
  const colon = name.indexOf(':');
  if (colon <= 0) return 'channel name must look like namespace:rest, e.g. orders:1001';
  const namespace = name.slice(0, colon);
  const rest = name.slice(colon + 1);
  if (!NAMESPACE_PATTERN.test(namespace)) return 'namespace must match [a-z][a-z0-9_-]*';
  if (!CHANNEL_REST_PATTERN.test(rest)) return 'channel name may only use A-Z a-z 0-9 _ - = @ , ; : after the namespace';
  return undefined;
}

export function parseChannelName(name: string): ChannelName {
  const problem = channelNameProblem(name);
  if (problem) throw new SwitchboardError('invalid_channel', `Invalid channel "${name.slice(0, 200)}": ${problem}`);
  const colon = name.indexOf(':');
  return { name, namespace: name.slice(0, colon), rest: name.slice(colon + 1) };
}

export function assertTenantId(tenant: string): string {
  if (!TENANT_PATTERN.test(tenant)) {
    throw new SwitchboardError('invalid_identity', 'tenant id must match [A-Za-z0-9_-]{1,64}');
  }
  return tenant;
}
