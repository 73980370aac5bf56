/** The size check of providers that carry the JSON envelope as one string (Pusher's event `data`). */
import { largestEnvelope, type Envelope } from '../src/core/envelope.js';

/** Why a provider allowing `limit` bytes of event data would refuse `data`, a JSON-encoded envelope. */
export function envelopeDataProblem(data: string, limit: number, provider: string): string | undefined {
  const bytes = Buffer.byteLength(data, 'utf8');
  return bytes > limit ? `${bytes} bytes of event data with the envelope, over ${provider}'s ${limit}-byte limit` : undefined;
}

/** `payloadProblem` of such a provider: the same check for the largest envelope the event can travel in. */
export function largestEnvelopeDataProblem(event: Pick<Envelope, 'channel' | 'event' | 'data'>, limit: number, provider: string): string | undefined {
  return envelopeDataProblem(JSON.stringify(largestEnvelope(event)), limit, provider);
}
