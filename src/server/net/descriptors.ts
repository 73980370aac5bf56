/**
 * The process's open-files limit (RLIMIT_NOFILE) and what it leaves for WebSocket
 * connections. Past the limit the kernel refuses `accept()`, libuv drops the connection
 * without a word, and `/healthz` fails with everything else: so the connection cap stays
 * below it, with descriptors reserved for HTTP requests, Redis, the store, outgoing
 * requests and health checks.
 */
import { readFileSync } from 'node:fs';

/** Descriptors WebSocket connections leave free by default: HTTP sockets, Redis, store files, outgoing requests. */
export const DEFAULT_RESERVED_DESCRIPTORS = 1024;
/** Of the reserve, what inbound sockets never take: Redis, store files, outgoing webhook and provider requests, stdio. */
export const INTERNAL_DESCRIPTORS = 128;
/** Past the inbound cap, sockets still accepted so that health checks are answered and others get a clean 503. */
export const HEALTH_DESCRIPTORS = 64;
/** Where the limit cannot be read (not Linux): the cap Switchboard always had. */
export const FALLBACK_CONNECTION_CAP = 10_000;

/** The soft "Max open files" of /proc/self/limits; undefined when unknown or unlimited. */
export function parseOpenFilesLimit(limits: string): number | undefined {
  const line = /^Max open files\s+(\S+)/m.exec(limits);
  const value = line?.[1];
  if (value === undefined || value === 'unlimited') return undefined;
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) && parsed > 0 ? parsed : undefined;
}

let cached: { limit: number | undefined } | undefined;

export function openFilesLimit(): number | undefined {
  if (!cached) {
    try {
      cached = { limit: parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8')) };
    } catch {
      cached = { limit: undefined };
    }
  }
  return cached.limit;
}

export interface DescriptorBudget {
  /** RLIMIT_NOFILE, when known. */
  openFilesLimit: number | undefined;
  /** WebSocket connections this process can hold. */
  connectionCap: number;
  /** Inbound sockets (HTTP and WebSocket) served normally; undefined when the limit is unknown. */
  socketCap: number | undefined;
  /** Inbound sockets past which new ones are closed at once; between socketCap and it only health checks are served. */
  hardSocketCap: number | undefined;
}

export function descriptorBudget(limit: number | undefined, reserved = DEFAULT_RESERVED_DESCRIPTORS): DescriptorBudget {
  if (limit === undefined) return { openFilesLimit: undefined, connectionCap: FALLBACK_CONNECTION_CAP, socketCap: undefined, hardSocketCap: undefined };
  const internal = Math.min(INTERNAL_DESCRIPTORS, Math.floor(limit / 8));
  const health = Math.min(HEALTH_DESCRIPTORS, Math.floor(limit / 16));
  const hardSocketCap = Math.max(1, limit - internal);
  return {
    openFilesLimit: limit,
    connectionCap: Math.max(1, limit - Math.max(reserved, internal + health + 1)),
    socketCap: Math.max(1, hardSocketCap - health),
    hardSocketCap,
  };
}
