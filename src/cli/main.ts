import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerClientCommands } from './client-commands.js';
import { registerClusterCommands } from './cluster-commands.js';
import { registerKeysCommands } from './keys-commands.js';
import { registerRoleCommands } from './role-commands.js';

/**
 * `ofs`: one executable, a subcommand per role and per client verb (commander does the parsing and help).
 * The roles' code (master, chunkserver, supervisor, ZooKeeper, keys) is imported when its command runs:
 * loaded up front it cost every `ofs get` or `ofs ls` about 100 ms of its ~300 ms start.
 */
// dist/src/cli/ → the package root, in the repository and where npm installed it.
const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('ofs')
  .description('OFS: a distributed file system in the shape of GFS')
  .version(version)
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

registerRoleCommands(program);
registerClusterCommands(program);
registerKeysCommands(program);
registerClientCommands(program);

await program.parseAsync(process.argv);
