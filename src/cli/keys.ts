/**
 * `switchboard keys generate`: a signing key set for SWITCHBOARD_SIGNING_KEYS, the same on
 * every node. Printed as one JSON line, so `SWITCHBOARD_SIGNING_KEYS=$(switchboard keys generate)` works.
 */
import { generatePrivateJwk, parsePrivateJwks } from '../server/tokens/signing-keys.js';
import { parseCommandArgs, UsageError, type Command } from './args.js';

export const keys: Command = {
  name: 'keys',
  summary: 'Generate a signing key set for SWITCHBOARD_SIGNING_KEYS',
  help: `Usage: switchboard keys generate [--rotate]

Prints a new Ed25519 private key set (JSON, one line) for SWITCHBOARD_SIGNING_KEYS. Give
every node the same set: a token minted on one node must verify on all of them.

Options:
  --rotate         put the new key in front of the set in $SWITCHBOARD_SIGNING_KEYS: the
                   new key signs, the old ones still verify. Deploy it to every node, and
                   drop the old keys one TOKEN_TTL_SECONDS later.

The output is a secret: keep it in your secret store, never in the repository.`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('keys', argv, { rotate: { type: 'boolean' } }, true);
    if (values.help) return void console.log(this.help);
    const [action, ...extra] = positionals;
    if (action !== 'generate') throw new UsageError(action === undefined ? 'keys needs generate' : `unknown action ${JSON.stringify(action)}; keys knows generate`, 'keys');
    if (extra.length > 0) throw new UsageError(`unexpected ${JSON.stringify(extra[0])}`, 'keys');
    let current: unknown[] = [];
    if (values.rotate) {
      const configured = process.env.SWITCHBOARD_SIGNING_KEYS?.trim();
      if (!configured) throw new UsageError('--rotate needs the current set in SWITCHBOARD_SIGNING_KEYS', 'keys');
      try {
        current = parsePrivateJwks(configured, 'SWITCHBOARD_SIGNING_KEYS');
      } catch (error) {
        throw new UsageError(error instanceof Error ? error.message : String(error), 'keys');
      }
    }
    console.log(JSON.stringify([generatePrivateJwk(), ...current]));
  },
};
