import { createReadStream, createWriteStream, fstatSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import { OfsClient } from '../client/ofs-client.js';
import { PIECE_BYTES } from '../client/file-writer.js';
import { OfsError } from '../core/errors.js';
import { growHeapForBulkBytes } from '../util/heap-growth.js';
import { reportAndExit } from './errors.js';
import { formatFsck, formatListing, formatStat, formatStatus } from './format.js';
import { parseMode, parseOwnerGroup, parsePercent, parsePositiveInt, parseZkAddress } from './options.js';
import { pipeWithProgress, ProgressBar, wantsProgress } from './progress.js';
import { keysOption } from './security-options.js';

const zkOption = () =>
  new Option('--zk <host:port>', 'ZooKeeper connect string').env('OFS_ZK').argParser(parseZkAddress);
const quietOption = () => new Option('-q, --quiet', 'no progress bar or progress lines');
const userOption = () => new Option('--user <name>', 'call as this user (its key in KEYS/users/NAME.key, made by ofs keys add-user); default: the client key, user client').env('OFS_USER');

/** Runs one verb with a connected client, then closes it; errors print one line and set the exit code. */
function withClient<A extends unknown[]>(verb: string, run: (client: OfsClient, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const command = args[args.length - 1] as Command;
    const { zk, keys, user } = command.opts<{ zk?: string; keys?: string; user?: string }>();
    try {
      if (!zk) throw new OfsError('EINVAL', 'no ZooKeeper address: pass --zk HOST:PORT or set OFS_ZK');
      const client = await OfsClient.connect({ zk, keys, user });
      try {
        await run(client, ...args);
      } finally {
        await client.close();
      }
    } catch (err) {
      reportAndExit(verb)(err);
    }
  };
}

/** Entries `ofs ls` prints in one write. */
const LS_BATCH = 1_000;

/**
 * Pipelines into stdout leave it open (`end: false`): it may be a socket the
 * shell that ran us shares (Node hands its children socketpairs), and ending
 * it shuts the socket down for the shell too, which dies of SIGPIPE at its
 * next echo. What is written is still flushed before the process exits.
 */
const INTO_STDOUT = { end: false } as const;

/** stdout that may close early (`ofs cat f | head`): a broken pipe is the reader's choice, not an error. */
function stdoutIgnoringEpipe() {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  return process.stdout;
}

/** The size of what `put` reads, when known: a file's, or stdin's when it is a file (`< file`), not a pipe's. */
async function localSize(local: string): Promise<number | undefined> {
  if (local === '-') {
    const stdin = fstatSync(0);
    return stdin.isFile() ? stdin.size : undefined;
  }
  // A file that cannot be read fails the copy itself, with the reason.
  return stat(local).then((s) => s.size, () => undefined);
}

/** The spread of fill in points and its target, replicas moved; within 80 columns with a short bar. */
const BALANCE_BAR = 'balance [{bar}] {percentage}% | spread {spread}/{target} | {moved} moved | {rate} MiB/s | ETA {eta_formatted}';

function balanceFigures(now: BalanceReply, first: BalanceReply, threshold: number) {
  return { spread: (now.spread * 100).toFixed(1), target: threshold, moved: now.moved - first.moved };
}

type BalanceReply = Awaited<ReturnType<OfsClient['balance']>>;

export function registerClientCommands(program: Command): void {
  program
    .command('put')
    .description('copy a local file (or - for stdin) into OFS')
    .argument('<local>', 'local file, or - for stdin')
    .argument('<path>', 'OFS path')
    .option('--no-overwrite', 'fail if the path exists')
    .option('-m, --mode <mode>', 'the new file’s permission bits, octal (default 644)', parseMode)
    .addOption(quietOption())
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('put', async (client, local: string, path: string, opts: { overwrite: boolean; quiet?: boolean; mode?: number }) => {
        growHeapForBulkBytes();
        const source = local === '-' ? process.stdin : createReadStream(local, { highWaterMark: PIECE_BYTES });
        await pipeWithProgress('put', source, client.createWriteStream(path, { overwrite: opts.overwrite, mode: opts.mode }), {
          show: wantsProgress(opts.quiet),
          size: () => localSize(local),
        });
      }),
    );

  program
    .command('append')
    .description('append a local file (or - for stdin) to PATH as one record; prints the offset it got')
    .argument('<path>', 'OFS path')
    .argument('<local>', 'local file, or - for stdin')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('append', async (client, path: string, local: string) => {
        const record = await buffer(local === '-' ? process.stdin : createReadStream(local));
        process.stdout.write(`${await client.append(path, record)}\n`);
      }),
    );

  program
    .command('get')
    .description('copy an OFS file to a local file (or - for stdout)')
    .argument('<path>', 'OFS path')
    .argument('<local>', 'local file, or - for stdout')
    .addOption(quietOption())
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('get', async (client, path: string, local: string, opts: { quiet?: boolean }) => {
        growHeapForBulkBytes();
        const target = local === '-' ? stdoutIgnoringEpipe() : createWriteStream(local);
        await pipeWithProgress('get', client.createReadStream(path), target, {
          ...(local === '-' ? INTO_STDOUT : {}),
          // Not over the file's own bytes on the same terminal.
          show: wantsProgress(opts.quiet) && !(local === '-' && process.stdout.isTTY),
          size: async () => (await client.stat(path)).size,
        });
      }),
    );

  program
    .command('cat')
    .description('print an OFS file to stdout')
    .argument('<path>', 'OFS path')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('cat', async (client, path: string) => {
        growHeapForBulkBytes();
        await pipeline(client.createReadStream(path), stdoutIgnoringEpipe(), INTO_STDOUT);
      }),
    );

  program
    .command('ls')
    .description('list a directory (streamed a page at a time: a directory of millions starts printing at once)')
    .argument('[path]', 'OFS path', '/')
    .option('--json', 'print JSON (one array)')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('ls', async (client, path: string, opts: { json?: boolean }) => {
        const out = stdoutIgnoringEpipe();
        // Written a batch of entries at a time, not one write per entry.
        const text = async function* () {
          let batch: string[] = [];
          let written = 0;
          const flush = () => {
            const chunk = opts.json ? `${written > 0 ? ',\n' : '['}${batch.join(',\n')}` : `${batch.join('\n')}\n`;
            written += batch.length;
            batch = [];
            return chunk;
          };
          for await (const entry of client.entries(path)) {
            batch.push(opts.json ? JSON.stringify(entry) : formatListing([entry]));
            if (batch.length === LS_BATCH) yield flush();
          }
          if (batch.length > 0) yield flush();
          if (opts.json) yield written > 0 ? ']\n' : '[]\n';
        };
        await pipeline(Readable.from(text()), out, INTO_STDOUT);
      }),
    );

  program
    .command('mkdir')
    .description('make a directory')
    .argument('<path>', 'OFS path')
    .option('-p, --parents', 'make parents as needed; no error if it exists')
    .option('-m, --mode <mode>', 'its permission bits, octal (default 755; parents made with -p get 755)', parseMode)
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('mkdir', async (client, path: string, opts: { parents?: boolean; mode?: number }) => {
        await client.mkdir(path, { parents: opts.parents, mode: opts.mode });
      }),
    );

  program
    .command('rm')
    .description('remove a file or directory')
    .argument('<path>', 'OFS path')
    .option('-r, --recursive', 'remove a directory and everything below it')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('rm', async (client, path: string, opts: { recursive?: boolean }) => {
        await client.delete(path, { recursive: opts.recursive });
      }),
    );

  program
    .command('undelete')
    .description('bring back the most recently deleted PATH from the trash (until GC runs)')
    .argument('<path>', 'OFS path')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('undelete', async (client, path: string) => {
        await client.undelete(path);
      }),
    );

  program
    .command('mv')
    .description('rename a file or directory')
    .argument('<src>', 'OFS path')
    .argument('<dst>', 'OFS path (must not exist)')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('mv', async (client, from: string, to: string) => {
        await client.rename(from, to);
      }),
    );

  program
    .command('chmod')
    .description("set a file's or directory's permission bits (its owner or the superuser may)")
    .argument('<mode>', 'octal, such as 750 or 1777 (sticky)', parseMode)
    .argument('<path>', 'OFS path')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('chmod', async (client, mode: number, path: string) => {
        await client.chmod(path, mode);
      }),
    );

  program
    .command('chown')
    .description("give a file or directory to OWNER (the superuser only) and/or GROUP (also its owner, to a group of its own)")
    .argument('<owner>', 'OWNER, OWNER:GROUP or :GROUP', parseOwnerGroup)
    .argument('<path>', 'OFS path')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('chown', async (client, change: { owner?: string; group?: string }, path: string) => {
        await client.chown(path, change);
      }),
    );

  program
    .command('stat')
    .description('type, size, owner, group and mode; for a file, its chunks, versions and the chunkservers holding each (that needs r on it)')
    .argument('<path>', 'OFS path')
    .option('--no-chunks', 'without the chunks: needs only the right to traverse to PATH')
    .option('--json', 'print JSON')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('stat', async (client, path: string, opts: { json?: boolean; chunks: boolean }) => {
        const stat = await client.stat(path, { chunks: opts.chunks });
        process.stdout.write(`${opts.json ? JSON.stringify(stat, null, 2) : formatStat(stat)}\n`);
      }),
    );

  program
    .command('fsck')
    .description('chunks and replicas of every file: under-replicated, stale and missing chunks; exits 1 if data is unrecoverable')
    .argument('[path]', 'OFS path', '/')
    .option('--json', 'print JSON')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('fsck', async (client, path: string, opts: { json?: boolean }) => {
        const report = await client.fsck(path);
        process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : formatFsck(report)}\n`);
        if (report.summary.missing > 0) process.exitCode = 1;
      }),
    );

  program
    .command('balance')
    .description('move replicas from fuller to emptier chunkservers until disk use is even; shows progress')
    .option('--threshold <percent>', 'stop when fullest and emptiest differ by at most this many percentage points', parsePercent, 5)
    .option('--timeout <seconds>', 'give up after this long', parsePositiveInt, 600)
    .addOption(quietOption())
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('balance', async (client, opts: { threshold: number; timeout: number; quiet?: boolean }) => {
        const deadline = Date.now() + opts.timeout * 1000;
        const first = await client.balance(opts.threshold / 100);
        // The bar runs from the spread at the start down to the target; the master's counters are since it started.
        const points = (spread: number) => Math.max(0, first.spread * 100 - Math.max(spread * 100, opts.threshold));
        const bar = wantsProgress(opts.quiet) && first.spread * 100 > opts.threshold ? new ProgressBar(BALANCE_BAR, points(0), balanceFigures(first, first, opts.threshold), 12) : undefined;
        try {
          for (let now = first; ; now = await client.balance(opts.threshold / 100)) {
            const line = `spread ${(now.spread * 100).toFixed(1)} points (target ${opts.threshold}), ${now.moved - first.moved} replicas moved`;
            bar?.update(points(now.spread), now.movedBytes - first.movedBytes, balanceFigures(now, first, opts.threshold));
            if (now.spread <= opts.threshold / 100) {
              bar?.stop();
              process.stdout.write(`${line}: balanced\n`);
              return;
            }
            if (Date.now() > deadline) throw new OfsError('ETIMEDOUT', `${line}: not balanced within ${opts.timeout} s`);
            if (!bar && !opts.quiet) process.stdout.write(`${line}\n`);
            await new Promise((resolve) => setTimeout(resolve, 1000));
          }
        } finally {
          bar?.stop();
        }
      }),
    );

  program
    .command('admin')
    .description('operator commands')
    .command('checkpoint')
    .description('make the active master write a checkpoint of its namespace now')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('admin checkpoint', async (client) => {
        const { seq, path } = await client.checkpoint();
        process.stdout.write(`checkpoint at event ${seq}: ${path}\n`);
      }),
    );

  program
    .command('status')
    .description('active master, standby, chunkservers and their space')
    .option('--json', 'print JSON')
    .addOption(zkOption())
    .addOption(keysOption())
    .addOption(userOption())
    .action(
      withClient('status', async (client, opts: { json?: boolean }) => {
        const status = await client.status({ underReplicated: true });
        process.stdout.write(`${opts.json ? JSON.stringify(status, null, 2) : formatStatus(status)}\n`);
      }),
    );
}
