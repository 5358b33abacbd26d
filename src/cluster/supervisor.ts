import type { ChildProcess } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OfsClient } from '../client/ofs-client.js';
import { loadOrCreateIdentity } from '../actors/node-identity.js';
import { ensureKeys } from '../security/keys.js';
import type { Logger } from '../util/logger.js';
import { dyingWithParent, spawnWithoutInheritedSockets } from './child-process.js';
import { waitForZooKeeper } from './zookeeper-server.js';
import { writeClusterFile, type ClusterProcess } from './cluster-file.js';
import { findFreePort } from './free-port.js';

export interface ClusterOptions {
  dir: string;
  chunkservers: number;
  masters: number;
  replication: number;
  chunkSize: number;
  heartbeatMs: number;
  /** Every role's ZooKeeper session timeout; each role's own default if absent. */
  zkSessionMs?: number;
  leaseMs: number;
  scrubIntervalMs: number;
  gcInterval: number;
  zkPort?: number;
  /** Per-chunkserver capacity in bytes (default: the disk). */
  capacity?: number;
  /** No keys, no CURVE, no ZooKeeper ACLs (`--insecure`). */
  insecure?: boolean;
  /** CURVE on the chunkservers' data sockets too (`--encrypt-data`). */
  encryptData?: boolean;
  log: Logger;
}

interface Supervised {
  spec: Omit<ClusterProcess, 'pid'>;
  args: string[];
  child?: ChildProcess;
  startedAt: number;
  restarts: number;
}

const CLI_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const RESTART_DELAY_MS = { first: 500, max: 5000 };
/** A process that ran this long before dying is restarted promptly again. */
const HEALTHY_RUN_MS = 10_000;

/**
 * `ofs cluster up`: ZooKeeper, masters and chunkservers as child processes
 * on free loopback ports, each restarted (on its own data directory) when it
 * dies, all stopped together on SIGINT/SIGTERM. DIR/cluster.json says what
 * runs where.
 */
export class Supervisor {
  private readonly processes: Supervised[] = [];
  private stopping = false;
  private zk = '';
  /** DIR/keys, made on the first start and kept: every role and client of the cluster uses them. None when insecure. */
  readonly keysDir: string | undefined;

  constructor(private readonly options: ClusterOptions) {
    this.keysDir = options.insecure ? undefined : join(options.dir, 'keys');
  }

  async start(): Promise<string> {
    const { dir } = this.options;
    await mkdir(join(dir, 'logs'), { recursive: true });
    if (this.keysDir) await ensureKeys(this.keysDir);
    const zkPort = this.options.zkPort ?? (await this.freePort());
    this.zk = `127.0.0.1:${zkPort}`;
    await this.launch({ role: 'zookeeper', id: 'zookeeper', port: zkPort, dir: join(dir, 'zookeeper') }, ['--port', String(zkPort)]);
    await waitForZooKeeper('127.0.0.1', zkPort, 20_000);
    const session = this.options.zkSessionMs ? ['--zk-session-ms', String(this.options.zkSessionMs)] : [];
    const security = this.keysDir ? ['--keys', this.keysDir] : ['--insecure'];
    const common = ['--zk', this.zk, '--heartbeat-ms', String(this.options.heartbeatMs), ...session, ...security];
    for (let i = 0; i < this.options.masters; i++) {
      const [port, httpPort] = [await this.freePort(), await this.freePort()];
      await this.launch({ role: 'master', id: `master-${i}`, port, httpPort, dir: join(dir, `master-${i}`) }, [
        ...common,
        '--port', String(port),
        '--http-port', String(httpPort),
        '--chunk-size', String(this.options.chunkSize),
        '--replication', String(this.options.replication),
        '--lease-ms', String(this.options.leaseMs),
        '--gc-interval', String(this.options.gcInterval),
      ]);
    }
    for (let i = 0; i < this.options.chunkservers; i++) {
      const [port, dataPort, httpPort] = [await this.freePort(), await this.freePort(), await this.freePort()];
      const capacity = this.options.capacity ? ['--capacity', String(this.options.capacity)] : [];
      const encryptData = this.options.encryptData ? ['--encrypt-data'] : [];
      await this.launch({ role: 'chunkserver', id: `chunkserver-${i}`, port, httpPort, dir: join(dir, `chunkserver-${i}`) }, [
        ...common,
        '--port', String(port),
        '--data-port', String(dataPort),
        '--http-port', String(httpPort),
        ...encryptData,
        '--scrub-interval-ms', String(this.options.scrubIntervalMs),
        ...capacity,
      ]);
    }
    return this.zk;
  }

  /** Resolves when a master is active and every chunkserver has reported to it. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    const client = await OfsClient.connect({ zk: this.zk, retryForMs: timeoutMs, keys: this.keysDir });
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const status = await client.status();
        if (status.chunkservers.length >= this.options.chunkservers) return;
        if (Date.now() > deadline) {
          throw new Error(`only ${status.chunkservers.length} of ${this.options.chunkservers} chunkservers reported within ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await client.close();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Clients of ZooKeeper first, so their sessions close cleanly; ZooKeeper last.
    const order = ['chunkserver', 'master', 'zookeeper'];
    for (const role of order) {
      await Promise.all(this.processes.filter((p) => p.spec.role === role).map((p) => terminate(p.child)));
    }
    await this.save();
  }

  /** Ports handed out: a process may not have bound its ports yet when the next one is chosen. */
  private readonly ports = new Set<number>();

  /** A free port that no other process of this cluster was given. */
  private async freePort(): Promise<number> {
    for (;;) {
      const port = await findFreePort();
      if (!this.ports.has(port)) {
        this.ports.add(port);
        return port;
      }
    }
  }

  private async launch(spec: Supervised['spec'], roleArgs: string[]): Promise<void> {
    const entry: Supervised = { spec, args: [CLI_MAIN, spec.role, '--dir', spec.dir, ...roleArgs], startedAt: 0, restarts: 0 };
    this.processes.push(entry);
    await this.spawn(entry);
  }

  private async spawn(entry: Supervised): Promise<void> {
    if (entry.spec.role !== 'zookeeper') {
      // The role reads its id from its data directory: have it be the name this
      // process goes by in cluster.json and logs/, before the role starts.
      // (A directory that already has an id keeps it, and is listed by it.)
      entry.spec.id = await loadOrCreateIdentity(entry.spec.dir, entry.spec.role, entry.spec.id);
    }
    const log = await open(join(this.options.dir, 'logs', `${entry.spec.id}.log`), 'a');
    // Roles die with the supervisor, even by kill -9, instead of living on as orphans.
    const [command, args] = dyingWithParent(process.execPath, entry.args);
    // Each role is told its keys (or --insecure) on its command line; an OFS_KEYS of the caller's must not contradict that.
    const { OFS_KEYS: _, ...env } = process.env;
    const child = spawnWithoutInheritedSockets(command, args, { stdio: ['ignore', log.fd, log.fd], env });
    await log.close();
    entry.child = child;
    entry.startedAt = Date.now();
    child.once('exit', (code, signal) =>
      // A supervisor that dies of a restart failure would orphan every role: log it and go on.
      this.onExit(entry, child, code, signal).catch((err: Error) => this.options.log.error({ id: entry.spec.id, err: err.message }, 'restart failed')),
    );
    this.options.log.info({ id: entry.spec.id, pid: child.pid, port: entry.spec.port, httpPort: entry.spec.httpPort }, 'started');
    await this.save();
  }

  private async onExit(entry: Supervised, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.stopping || entry.child !== child) return;
    const healthy = Date.now() - entry.startedAt > HEALTHY_RUN_MS;
    entry.restarts = healthy ? 0 : entry.restarts + 1;
    const delay = Math.min(RESTART_DELAY_MS.first * 2 ** Math.max(0, entry.restarts - 1), RESTART_DELAY_MS.max);
    this.options.log.warn({ id: entry.spec.id, code, signal, restartInMs: delay }, 'process died; restarting it on its data directory');
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (!this.stopping) await this.spawn(entry);
  }

  /** Saves one at a time, in order: two processes dying together must not race on cluster.json. */
  private saving: Promise<void> = Promise.resolve();

  private save(): Promise<void> {
    this.saving = this.saving.then(() => this.writeFile()).catch((err: Error) => {
      this.options.log.error({ err: err.message }, 'could not update cluster.json');
    });
    return this.saving;
  }

  private writeFile(): Promise<void> {
    return writeClusterFile(this.options.dir, {
      zk: this.zk,
      supervisor: process.pid,
      processes: this.stopping
        ? []
        : this.processes.map((p) => ({ ...p.spec, pid: p.child?.pid ?? 0 })),
    });
  }
}

/** SIGTERM, then SIGKILL if it has not gone within a few seconds. */
function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
