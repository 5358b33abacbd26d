import { MAX_REPLICATION } from '../transport/protocol.js';
import type { Command } from 'commander';
import { OfsError } from '../core/errors.js';
import { CHUNKSERVER_SESSION_TIMEOUT_MS, DEFAULT_SESSION_TIMEOUT_MS } from '../zk/session.js';
import { reportAndExit } from './errors.js';
import { encryptDataOption, insecureOption } from './security-options.js';
import { parseByteCount, parseChunkSize, parseLeaseMs, parseNonNegativeInt, parsePort, parsePositiveInt, parseReplication } from './options.js';

export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('run a whole local cluster, supervised');

  cluster
    .command('up')
    .description('start ZooKeeper, masters and chunkservers as child processes; restart any that dies; stop all on SIGINT/SIGTERM')
    .requiredOption('--dir <dir>', 'directory for every role’s data, logs/ and cluster.json')
    .option('--chunkservers <n>', 'number of chunkservers', parsePositiveInt, 3)
    .option('--masters <n>', 'number of masters (one active, the rest standby)', parsePositiveInt, 2)
    .option('--replication <n>', `replicas per chunk (at most ${MAX_REPLICATION})`, parseReplication, 3)
    .option('--chunk-size <bytes>', 'chunk size (64 KiB to 1 GiB)', parseChunkSize, 64 * 2 ** 20)
    .option('--capacity <bytes>', 'per-chunkserver capacity (default: the disk)', parseByteCount)
    .option('--zk-port <port>', 'ZooKeeper client port (default: a free one)', parsePort)
    .option('--heartbeat-ms <ms>', 'chunkserver heartbeat interval', parsePositiveInt, 1000)
    .option('--zk-session-ms <ms>', `ZooKeeper session timeout of every role (1000-20000 with the shipped zoo.cfg; default: masters ${DEFAULT_SESSION_TIMEOUT_MS}, chunkservers ${CHUNKSERVER_SESSION_TIMEOUT_MS})`, parsePositiveInt)
    .option('--lease-ms <ms>', 'chunk lease duration', parseLeaseMs, 60_000)
    .option('--gc-interval <ms>', 'how long deleted files stay in the trash before GC', parsePositiveInt, 10 * 60_000)
    .option('--scrub-interval-ms <ms>', 'each chunkserver verifies one chunk this often (0: never)', parseNonNegativeInt, 10_000)
    .addOption(insecureOption())
    .addOption(encryptDataOption())
    .action(async (opts) => {
      const [{ Supervisor }, { createLogger }] = await Promise.all([import('../cluster/supervisor.js'), import('../util/logger.js')]);
      const log = createLogger('cluster');
      const supervisor = new Supervisor({ ...opts, log });
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        process.stdout.write('cluster stopping\n');
        supervisor.stop().then(() => process.exit(0), reportAndExit('cluster up'));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      try {
        const zk = await supervisor.start();
        await supervisor.waitUntilReady(60_000);
        const keys = supervisor.keysDir ? ` OFS_KEYS=${supervisor.keysDir}` : '';
        process.stdout.write(`cluster ready: export OFS_ZK=${zk}${keys}   (processes in ${opts.dir}/cluster.json, logs in ${opts.dir}/logs)\n`);
      } catch (err) {
        await supervisor.stop();
        reportAndExit('cluster up')(err);
      }
    });

  cluster
    .command('down')
    .description('stop the cluster that `ofs cluster up --dir DIR` runs')
    .requiredOption('--dir <dir>', 'the directory given to cluster up')
    .action(async (opts: { dir: string }) => {
      try {
        const { readClusterFile } = await import('../cluster/cluster-file.js');
        const { supervisor } = await readClusterFile(opts.dir).catch((err: Error) => {
          throw new OfsError('ENOENT', `no running cluster in ${opts.dir}: ${err.message}`);
        });
        process.kill(supervisor, 'SIGTERM');
        while (isAlive(supervisor)) await new Promise((resolve) => setTimeout(resolve, 100));
        process.stdout.write('cluster stopped\n');
      } catch (err) {
        reportAndExit('cluster down')(err);
      }
    });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
