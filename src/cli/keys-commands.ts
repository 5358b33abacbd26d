import type { Command } from 'commander';
import { reportAndExit } from './errors.js';

export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description("a cluster's keys: CURVE and signing keys per role, and the ZooKeeper digest");
  keys
    .command('init')
    .description('make a new cluster’s keys in DIR (mode 0600); refused if DIR holds keys already')
    .requiredOption('--dir <dir>', 'the keys directory to make')
    .action(async (opts: { dir: string }) => {
      try {
        const { initKeys } = await import('../security/keys.js');
        await initKeys(opts.dir);
        process.stdout.write(
          `keys made in ${opts.dir}: give masters and chunkservers --keys ${opts.dir}; ` +
            `a client machine needs roster.json and client.key only (export OFS_KEYS=DIR)\n`,
        );
      } catch (err) {
        reportAndExit('keys init')(err);
      }
    });
  keys
    .command('add-user')
    .description('make user NAME a key (DIR/users/NAME.key, mode 0600) and add it, with its groups, to the roster; a running cluster learns the user when its key first connects')
    .argument('<name>', 'the user name: 1 to 32 of a-z, 0-9, _ and -; not a role’s name')
    .option('--groups <groups>', 'the groups it is in, comma-separated', (value: string) => value.split(',').filter((g) => g !== ''), [] as string[])
    .requiredOption('--dir <dir>', 'the keys directory (ofs keys init, or DIR/keys of ofs cluster up)')
    .action(async (name: string, opts: { dir: string; groups: string[] }) => {
      try {
        const { addUser } = await import('../security/keys.js');
        const path = await addUser(opts.dir, name, opts.groups);
        process.stdout.write(`user ${name} added: its key is ${path}; it calls with --user ${name} (or OFS_USER=${name}) and needs roster.json beside users/${name}.key\n`);
      } catch (err) {
        reportAndExit('keys add-user')(err);
      }
    });
}
