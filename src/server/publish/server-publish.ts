/**
 * Publishing from the app's own server code, in-process: the same message schema, event
 * log, delivery and outcome as `POST /v1/publish`, with the tenant named by the caller
 * (server code is trusted to know it; end users never reach this).
 */
import { z } from 'zod';
import { tenantIdSchema } from '../../core/schemas.js';
import { parseInput } from '../../core/validation.js';
import { publishMessageSchema, type PublishOutcome, type PublishPipeline } from './pipeline.js';

export const serverPublishSchema = publishMessageSchema.omit({ socketId: true }).extend({ tenant: tenantIdSchema }).strict();

/** `{ tenant, channel, event, data, id? }`; a resend with the same `id` answers `duplicate` with the original seq. */
export type ServerPublish = z.input<typeof serverPublishSchema>;

/** Validation errors throw a SwitchboardError (`invalid_request`, `invalid_channel`, `payload_too_large`, …) as the HTTP route answers them. */
export async function publishFromServer(pipeline: PublishPipeline, input: ServerPublish): Promise<PublishOutcome> {
  const { tenant, ...message } = parseInput(serverPublishSchema, input, 'publish');
  const [outcome] = await pipeline.publish(tenant, [message]);
  return outcome as PublishOutcome;
}
