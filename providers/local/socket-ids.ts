/**
 * Socket ids as Pusher forms them: two random integers in [1, 2^47) joined by a dot. The
 * random bytes come from a pool refilled a few KB at a time: `crypto.randomInt` per number
 * cost more than the rest of an id's work on the connect path.
 */
import { randomBytes } from 'node:crypto';

const BYTES_PER_NUMBER = 6;
const POOL_BYTES = BYTES_PER_NUMBER * 1024;
const RANGE = 2 ** 47;

let pool = Buffer.alloc(0);
let offset = 0;

/** Uniform in [1, 2^47): 48 random bits reduced mod 2^47 (a power of two, so without bias), 0 drawn again. */
function randomNumber(): number {
  for (;;) {
    if (offset + BYTES_PER_NUMBER > pool.length) {
      pool = randomBytes(POOL_BYTES);
      offset = 0;
    }
    const value = pool.readUIntBE(offset, BYTES_PER_NUMBER) % RANGE;
    offset += BYTES_PER_NUMBER;
    if (value > 0) return value;
  }
}

export function randomSocketId(): string {
  return `${randomNumber()}.${randomNumber()}`;
}
