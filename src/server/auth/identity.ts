import type { JsonValue } from '../../core/envelope.js';

/** A verified end user. `tenant` only ever comes from a verified credential. */
export interface Identity {
  tenant: string;
  user: string;
  roles: string[];
  info: Record<string, JsonValue>;
}
