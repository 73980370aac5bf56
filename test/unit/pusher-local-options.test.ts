import { describe, expect, it } from 'vitest';
import { DEFAULT_LOCAL_OPTIONS, localProviderOptionsFromEnv } from '../../providers/local/index.js';

describe('localProviderOptionsFromEnv', () => {
  it('falls back to dev credentials and documented defaults outside production', () => {
    const options = localProviderOptionsFromEnv({});
    expect(options).toMatchObject({
      appId: 'switchboard',
      key: 'switchboard-key',
      secret: 'switchboard-secret',
      presenceMaxMembers: 100,
      clientEventRate: 10,
      activityTimeoutSeconds: 30,
      maxPayloadBytes: 64 * 1024,
      apiMaxDataBytes: 10 * 1024,
    });
    expect(options).toEqual(DEFAULT_LOCAL_OPTIONS);
  });

  it('reads every limit from the environment', () => {
    const options = localProviderOptionsFromEnv({
      LOCAL_APP_ID: 'app',
      LOCAL_APP_KEY: 'key',
      LOCAL_APP_SECRET: 'a-long-enough-secret',
      LOCAL_MAX_CONNECTIONS: '5',
      LOCAL_MAX_CHANNELS_PER_CONNECTION: '6',
      LOCAL_PRESENCE_MAX_MEMBERS: '7',
      LOCAL_CLIENT_EVENT_RATE: '8',
      LOCAL_MAX_FRAME_BYTES: '2048',
      LOCAL_MAX_PAYLOAD_BYTES: '1000',
      LOCAL_API_MAX_DATA_BYTES: '500',
      LOCAL_API_MAX_BODY_BYTES: '4096',
      LOCAL_ACTIVITY_TIMEOUT_SECONDS: '12',
      LOCAL_PONG_TIMEOUT_SECONDS: '3',
      LOCAL_MAX_BUFFERED_BYTES: '1048576',
      LOCAL_MAX_FLUSH_DELAY_MS: '0',
      LOCAL_FANOUT_SLICE_MS: '9',
    });
    expect(options).toMatchObject({
      appId: 'app',
      key: 'key',
      secret: 'a-long-enough-secret',
      maxConnections: 5,
      maxChannelsPerConnection: 6,
      presenceMaxMembers: 7,
      clientEventRate: 8,
      maxFrameBytes: 2048,
      maxPayloadBytes: 1000,
      apiMaxDataBytes: 500,
      apiMaxBodyBytes: 4096,
      activityTimeoutSeconds: 12,
      pongTimeoutSeconds: 3,
      maxBufferedBytes: 1048576,
      maxFlushDelayMs: 0,
      fanOutSliceMs: 9,
    });
  });

  it('names the variable that is wrong', () => {
    expect(() => localProviderOptionsFromEnv({ LOCAL_MAX_CONNECTIONS: 'lots' })).toThrow(/LOCAL_MAX_CONNECTIONS/);
    expect(() => localProviderOptionsFromEnv({ LOCAL_APP_KEY: 'has space' })).toThrow(/LOCAL_APP_KEY/);
  });

  it('refuses the dev credentials in production', () => {
    const production = { NODE_ENV: 'production', LOCAL_APP_ID: 'prod', LOCAL_APP_KEY: 'prod-key', LOCAL_APP_SECRET: 'x'.repeat(40) };
    expect(localProviderOptionsFromEnv(production).secret).toBe('x'.repeat(40));
    expect(() => localProviderOptionsFromEnv({ NODE_ENV: 'production' })).toThrow(/LOCAL_APP_ID/);
    expect(() => localProviderOptionsFromEnv({ ...production, LOCAL_APP_SECRET: 'switchboard-secret' })).toThrow(/LOCAL_APP_SECRET/);
    expect(() => localProviderOptionsFromEnv({ ...production, LOCAL_APP_KEY: 'switchboard-key' })).toThrow(/LOCAL_APP_KEY/);
    expect(() => localProviderOptionsFromEnv({ ...production, LOCAL_APP_SECRET: 'too-short-secret' })).toThrow(/LOCAL_APP_SECRET/);
  });
});
