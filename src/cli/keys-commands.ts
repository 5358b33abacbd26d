import type { Command } from 'commander';
import { initKeys } from '../security/keys.js';
import { reportAndExit } from './errors.js';

export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description("a cluster's keys: CURVE and signing keys per role, and the ZooKeeper digest");
  keys
    .command('init')
    .description('make a new cluster’s keys in DIR (mode 0600); refused if DIR holds keys already')
    .requiredOption('--dir <dir>', 'the keys directory to make')
    .action(async (opts: { dir: string }) => {
      try {
        await initKeys(opts.dir);
        process.stdout.write(
          `keys made in ${opts.dir}: give masters and chunkservers --keys ${opts.dir}; ` +
            `a client machine needs roster.json and client.key only (export OFS_KEYS=DIR)\n`,
        );
      } catch (err) {
        reportAndExit('keys init')(err);
      }
    });
}
