/**
 * The BFF's admission settings in one object: how client addresses are read, the HTTP
 * limits, the descriptor budget and where refusals are counted. `createServerFromEnv`
 * builds it from the environment and hands the same one to the `local` provider.
 */
import { ClientAddresses, DEFAULT_ADDRESS_POLICY, type AddressPolicy } from './client-address.js';
import { DEFAULT_RESERVED_DESCRIPTORS, descriptorBudget, openFilesLimit, type DescriptorBudget } from './descriptors.js';
import { DEFAULT_HTTP_LIMITS, type GuardedServer, type HttpLimits } from './http-guard.js';
import { Refusals, type RefusalLogger } from './refusals.js';

export interface Network {
  addressPolicy: AddressPolicy;
  addresses: ClientAddresses;
  http: HttpLimits;
  budget: DescriptorBudget;
  refusals: Refusals;
  /** HTTP servers guarded so far (see the app's `attach`). */
  servers: GuardedServer[];
}

export interface NetworkOptions {
  addressPolicy?: AddressPolicy;
  http?: Partial<HttpLimits>;
  reservedDescriptors?: number;
  /** RLIMIT_NOFILE; read from /proc/self/limits when unset. */
  openFilesLimit?: number;
  logger?: RefusalLogger;
}

export function createNetwork(options: NetworkOptions = {}): Network {
  const budget = descriptorBudget(options.openFilesLimit ?? openFilesLimit(), options.reservedDescriptors ?? DEFAULT_RESERVED_DESCRIPTORS);
  const addressPolicy = options.addressPolicy ?? DEFAULT_ADDRESS_POLICY;
  return {
    addressPolicy,
    addresses: new ClientAddresses(addressPolicy),
    http: { ...DEFAULT_HTTP_LIMITS, socketCap: budget.socketCap, hardSocketCap: budget.hardSocketCap, ...options.http },
    budget,
    refusals: new Refusals(options.logger),
    servers: [],
  };
}
