import { MAX_REPLICATION } from '../transport/protocol.js';
import type { Command } from 'commander';
import type { EnsembleMember } from '../cluster/zookeeper-server.js';
import type { Logger } from '../util/logger.js';
import { OfsError } from '../core/errors.js';
import { CHUNKSERVER_SESSION_TIMEOUT_MS, DEFAULT_SESSION_TIMEOUT_MS } from '../zk/session.js';
import { reportAndExit } from './errors.js';
import { encryptDataOption, insecureOption, keysOption, memberCredentials } from './security-options.js';
import { parseByteCount, parseChunkSize, parseLeaseMs, parseEnsemble, parseNonNegativeInt, parsePort, parsePositiveInt, parseReplication, parseZkAddress } from './options.js';

/** Stops a role cleanly on SIGINT/SIGTERM so its ZooKeeper node goes at once, not after a session timeout. */
function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export function registerRoleCommands(program: Command): void {
  program
    .command('zookeeper')
    .description("run Apache ZooKeeper (Debian's zookeeper package) with a config made from zoo.cfg")
    .requiredOption('--dir <dir>', 'data directory')
    .option('--port <port>', 'client port', parsePort, 2181)
    .option('--host <host>', 'address to serve clients on, and to listen for the other servers on (default: every address)')
    .option('--id <n>', "this server's id in --ensemble (1 for its first server)", parsePositiveInt)
    .option('--ensemble <servers>', 'every server of the ensemble, in id order: HOST:PEERPORT:ELECTIONPORT,... (default: standalone)', parseEnsemble)
    .action(async (opts: { dir: string; port: number; host?: string; id?: number; ensemble?: EnsembleMember[] }) => {
      if (opts.ensemble && opts.id === undefined) reportAndExit('zookeeper')(new OfsError('EINVAL', '--ensemble needs --id'));
      if (opts.id !== undefined && !opts.ensemble) reportAndExit('zookeeper')(new OfsError('EINVAL', '--id needs --ensemble'));
      const { runZooKeeperForeground } = await import('../cluster/zookeeper-server.js');
      await runZooKeeperForeground(opts).catch(reportAndExit('zookeeper'));
    });

  program
    .command('master')
    .description('run a master; ZooKeeper elects one active, the others stand by')
    .requiredOption('--zk <host:port>', 'ZooKeeper connect string', parseZkAddress)
    .requiredOption('--dir <dir>', 'directory for the journal')
    .option('--host <host>', 'address to listen on and advertise', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', parsePort, 0)
    .option('--http-port <port>', 'port of the HTTP endpoint with /metrics (0 picks a free one)', parsePort, 0)
    .option('--chunk-size <bytes>', 'chunk size (64 KiB to 1 GiB)', parseChunkSize, 64 * 2 ** 20)
    .option('--replication <n>', `replicas per chunk (at most ${MAX_REPLICATION})`, parseReplication, 3)
    .option('--heartbeat-ms <ms>', 'chunkserver heartbeat interval', parsePositiveInt, 1000)
    .option('--dead-after-ms <ms>', 'a chunkserver without heartbeats this long is dead (default: 3 heartbeats)', parsePositiveInt)
    .option('--zk-session-ms <ms>', 'ZooKeeper session timeout (1000-20000 with the shipped zoo.cfg)', parsePositiveInt, DEFAULT_SESSION_TIMEOUT_MS)
    .option('--lease-ms <ms>', 'chunk lease duration (at least 1000)', parseLeaseMs, 60_000)
    .option('--gc-interval <ms>', 'how long deleted files stay in the trash (undelete-able) before GC', parsePositiveInt, 10 * 60_000)
    .addOption(keysOption())
    .addOption(insecureOption())
    .action(async (opts) => {
      const [{ runMaster }, { createLogger }] = await Promise.all([import('../actors/master/role.js'), import('../util/logger.js')]);
      const log = createLogger('master');
      const deadAfterMs = opts.deadAfterMs ?? 3 * opts.heartbeatMs;
      const master = await memberCredentials('master', opts)
        .then((credentials) => runMaster({ ...opts, credentials, deadAfterMs, gcIntervalMs: opts.gcInterval, log, onFatal: fatal(log) }))
        .catch(reportAndExit('master'));
      stopOnSignals(() => master.stop());
    });

  program
    .command('chunkserver')
    .description('run a chunkserver that stores chunks under --dir')
    .requiredOption('--zk <host:port>', 'ZooKeeper connect string', parseZkAddress)
    .requiredOption('--dir <dir>', 'directory for chunk files')
    .option('--host <host>', 'address to listen on and advertise', '127.0.0.1')
    .option('--port <port>', 'port of the control socket (0 picks a free one)', parsePort, 0)
    .option('--data-port <port>', 'port of the data socket, for chunk pushes and reads (0 picks a free one)', parsePort, 0)
    .option('--http-port <port>', 'port of the HTTP endpoint with /metrics (0 picks a free one)', parsePort, 0)
    .option('--capacity <bytes>', 'most bytes to store (default: the disk)', parseByteCount)
    .option('--heartbeat-ms <ms>', 'heartbeat interval', parsePositiveInt, 1000)
    .option('--zk-session-ms <ms>', 'ZooKeeper session timeout (1000-20000 with the shipped zoo.cfg)', parsePositiveInt, CHUNKSERVER_SESSION_TIMEOUT_MS)
    .option('--scrub-interval-ms <ms>', 'verify the checksums of one stored chunk this often (0: never)', parseNonNegativeInt, 10_000)
    .addOption(keysOption())
    .addOption(insecureOption())
    .addOption(encryptDataOption())
    .action(async (opts) => {
      const [{ runChunkserver }, { createLogger }] = await Promise.all([import('../actors/chunkserver/role.js'), import('../util/logger.js')]);
      const log = createLogger('chunkserver');
      const chunkserver = await memberCredentials('chunkserver', opts)
        .then((credentials) => runChunkserver({ ...opts, encryptData: opts.encryptData === true, credentials, log, onFatal: fatal(log) }))
        .catch(reportAndExit('chunkserver'));
      stopOnSignals(() => chunkserver.stop());
    });
}

/** A role that lost its ZooKeeper session must not go on as if it were still a member. */
function fatal(log: Logger) {
  return (reason: string) => {
    log.fatal(reason);
    process.exit(75);
  };
}
