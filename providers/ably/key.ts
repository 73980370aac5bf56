import { SwitchboardError } from '../../src/core/errors.js';
import { ABLY_API_KEY_PATTERN } from './options.js';

/** An Ably API key split as Ably does (`key.split(':')`): `keyName` = `appId.keyId`. */
export interface AblyKey {
  keyName: string;
  /** Never logged. */
  secret: string;
}

export function parseAblyKey(apiKey: string): AblyKey {
  if (!ABLY_API_KEY_PATTERN.test(apiKey)) throw new SwitchboardError('invalid_request', 'Ably API key must look like appId.keyId:secret');
  const colon = apiKey.indexOf(':');
  return { keyName: apiKey.slice(0, colon), secret: apiKey.slice(colon + 1) };
}
