import { ConfigurationError } from '../server/config-problems.js';
import { configurationWarnings } from '../server/config-warnings.js';
import { parseCommandArgs, type Command } from './args.js';

/** `switchboard check`: every configuration problem at once, without starting anything (npm start runs it before building). */
export const check: Command = {
  name: 'check',
  summary: 'Check the configuration and exit',
  help: `Usage: switchboard check

Reads the configuration exactly as serve does (environment, .env, the config file) and
lists every problem at once — everything serve would refuse to start with; exit code 1 when
there is one. Warnings (settings that work but should not stay) go to stderr. Nothing is started.`,
  async run(argv) {
    const { values } = parseCommandArgs('check', argv, {});
    if (values.help) return void console.log(this.help);
    const { checkConfiguration } = await import('../server/from-env.js');
    const { env, problems } = await checkConfiguration(process.env);
    if (!env) throw new ConfigurationError(problems);
    console.log(`Configuration OK: provider ${env.SWITCHBOARD_PROVIDER}, store ${env.SWITCHBOARD_STORE}, port ${env.PORT}.`);
    for (const warning of configurationWarnings(env)) console.error(`warning: ${warning}`);
  },
};
