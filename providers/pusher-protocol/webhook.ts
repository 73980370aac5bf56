/** Webhook signatures: `X-Pusher-Signature` = HMAC-SHA256 hex of the raw body (pusher-docs webhooks.md). */
import { hmacSha256Hex, safeEqual } from './hmac.js';

export function signWebhook(secret: string, rawBody: string | Buffer): string {
  return hmacSha256Hex(secret, rawBody);
}

export function verifyWebhookSignature(secret: string, rawBody: string | Buffer, signature: string): boolean {
  return safeEqual(signature.toLowerCase(), signWebhook(secret, rawBody));
}
