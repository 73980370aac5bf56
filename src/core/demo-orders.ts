/**
 * The demo's order stages, shared by the demo page and its server endpoint. An order's
 * stage is derived from the `status` events on its channel — whoever published them
 * (the demo button, the CLI, the README walkthrough) — never kept in memory.
 */
import * as z from 'zod/mini';

export const ORDER_STAGES = ['placed', 'packed', 'shipped', 'out for delivery', 'delivered'] as const;

/** What a `status` event needs for the demo to follow it: `{"status":"shipped"}` is enough. */
export const orderStatusSchema = z.object({ status: z.string().check(z.minLength(1), z.maxLength(100)) });

/** The stage a `status` event's data names, or undefined when it names none of ORDER_STAGES. */
export function orderStageOf(data: unknown): number | undefined {
  const parsed = orderStatusSchema.safeParse(data);
  if (!parsed.success) return undefined;
  const stage = (ORDER_STAGES as readonly string[]).indexOf(parsed.data.status.trim().toLowerCase());
  return stage === -1 ? undefined : stage;
}
