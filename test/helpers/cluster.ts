import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { OfsClient } from '../../src/client/ofs-client.js';
import { readClusterFile, type ClusterFile, type ClusterProcess } from '../../src/cluster/cluster-file.js';
import { spawnWithoutInheritedSockets as spawn } from '../../src/cluster/child-process.js';
import { mintChunkToken, type ChunkAccess, type ChunkToken } from '../../src/security/chunk-token.js';
import { readChunkTokenKey } from '../../src/security/keys.js';
import type { Role } from '../../src/security/roles.js';
import { WireIdentity } from '../../src/security/wire-identity.js';
import { RpcClient } from '../../src/transport/rpc-client.js';

export const OFS_BIN = fileURLToPath(new URL('../../../bin/ofs', import.meta.url));

export interface ClusterSpec {
  chunkservers?: number;
  masters?: number;
  replication?: number;
  chunkSize?: number;
  heartbeatMs?: number;
  zkSessionMs?: number;
  leaseMs?: number;
  /** Per-chunkserver capacity in bytes. */
  capacity?: number;
  scrubIntervalMs?: number;
  gcIntervalMs?: number;
  /** Runs on the cluster's directory before any role starts (a bench writes the masters' checkpoints there). */
  seed?: (dir: string) => Promise<void>;
  /** `cluster up --insecure`: no keys, no CURVE, open znodes. */
  insecure?: boolean;
  /**
   * Users to add with `ofs keys add-user` before any role starts; call as
   * one with client(name) or ofs(args, input, name).
   */
  users?: { name: string; groups?: string[] }[];
  /** `cluster up --encrypt-data`: CURVE on the chunkservers' data sockets too. */
  encryptData?: boolean;
}

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic bytes (no /dev/urandom dependence) so a failing size reproduces. */
export function patternBytes(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Runs `ofs ARGS` as a real process; resolves with its exit code and output. */
export function runOfs(args: string[], options: { zk?: string; keys?: string; user?: string; input?: Buffer; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...(options.zk ? { OFS_ZK: options.zk } : {}), ...(options.keys ? { OFS_KEYS: options.keys } : {}), ...(options.user ? { OFS_USER: options.user } : {}) };
    const child = spawn(process.execPath, [OFS_BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => stdout.push(d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ofs ${args.join(' ')} did not finish within ${options.timeoutMs ?? 60_000} ms; stderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(stdout), stderr });
    });
    child.stdin!.end(options.input ?? Buffer.alloc(0));
  });
}

/** `ofs ARGS` that must succeed. */
async function mustRun(args: string[]): Promise<void> {
  const result = await runOfs(args);
  if (result.code !== 0) throw new Error(`ofs ${args.join(' ')} exited with ${result.code}: ${result.stderr}`);
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A real cluster from `ofs cluster up`, in a temp dir, for one test file. */
export class TestCluster {
  /** Processes the supervisor found dead and restarted, from its log on stderr (and the line it is still writing). */
  private restarts = 0;
  private partialLine = '';

  private constructor(
    readonly dir: string,
    readonly zk: string,
    /** The keys directory `cluster up` made (its OFS_KEYS); none when insecure. */
    readonly keys: string | undefined,
    private readonly supervisor: ChildProcess,
  ) {
    supervisor.stderr!.on('data', (d: Buffer) => {
      const lines = (this.partialLine + d.toString()).split('\n');
      this.partialLine = lines.pop()!;
      this.restarts += lines.filter((line) => line.includes('process died; restarting')).length;
    });
  }

  /**
   * Starts `ofs cluster up` and waits until it is ready. A start that fails
   * or times out leaves nothing behind: the supervisor (and with it every
   * process it started) is stopped and the directory removed.
   */
  static async start(spec: ClusterSpec = {}): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'ofs-test-'));
    let supervisor: ChildProcess | undefined;
    try {
      await spec.seed?.(dir);
      for (const [i, user] of (spec.users ?? []).entries()) {
        const keys = join(dir, 'keys');
        if (i === 0) await mustRun(['keys', 'init', '--dir', keys]);
        await mustRun(['keys', 'add-user', user.name, '--dir', keys, ...(user.groups ? ['--groups', user.groups.join(',')] : [])]);
      }
      supervisor = spawn(process.execPath, [OFS_BIN, 'cluster', 'up', '--dir', dir, ...clusterArgs(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
      const { zk, keys } = await announced(supervisor);
      const cluster = new TestCluster(dir, zk, keys, supervisor);
      running.add(cluster);
      return cluster;
    } catch (err) {
      if (supervisor) await stopSupervisor(supervisor);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  file(): Promise<ClusterFile> {
    return readClusterFile(this.dir);
  }

  async process(id: string): Promise<ClusterProcess> {
    const found = (await this.file()).processes.find((p) => p.id === id);
    if (!found) throw new Error(`no process ${id} in cluster.json`);
    return found;
  }

  /** Kills one role process; the supervisor restarts it. Returns the old pid. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
    const { pid } = await this.process(id);
    process.kill(pid, signal);
    return pid;
  }

  /** How many lines of one process's log (every run of it, appended) match `pattern`. */
  async logLines(id: string, pattern: RegExp): Promise<number> {
    const log = await readFile(join(this.dir, 'logs', `${id}.log`), 'utf8').catch(() => '');
    return log.split('\n').filter((line) => pattern.test(line)).length;
  }

  /** The chunkserver id (as the master knows it) → that chunkserver's data directory. */
  async chunkserverDirs(): Promise<Map<string, string>> {
    return new Map((await this.roles('chunkserver')).map((r) => [r.roleId, r.dir]));
  }

  /** How many times the supervisor restarted a process since the cluster was ready. */
  supervisorRestarts(): number {
    return this.restarts;
  }

  /** cluster.json process id → the id that role registers under (the same, unless its directory came with an id of its own). */
  async roleIds(role: 'master' | 'chunkserver'): Promise<Map<string, string>> {
    return new Map((await this.roles(role)).map((r) => [r.id, r.roleId]));
  }

  private async roles(role: 'master' | 'chunkserver'): Promise<(ClusterProcess & { roleId: string })[]> {
    const processes = (await this.file()).processes.filter((p) => p.role === role);
    return Promise.all(processes.map(async (p) => ({ ...p, roleId: (await readFile(join(p.dir, 'id'), 'utf8')).trim() })));
  }

  /** A client calling as `user` (a spec's user, or `client`, the default). */
  client(user?: string): Promise<OfsClient> {
    return OfsClient.connect({ zk: this.zk, keys: this.keys, user });
  }

  /**
   * The wire credentials of `role` from the cluster's keys, for a test that
   * calls roles by hand (as a master, to order a chunkserver about); none
   * when insecure.
   */
  async identity(role: Role = 'client'): Promise<WireIdentity | undefined> {
    return this.keys === undefined ? undefined : WireIdentity.load(this.keys, role);
  }

  /**
   * A capability token as the master grants them, made with the cluster's
   * key, for a test that calls chunkservers by hand as `user` (the verified
   * user of its key: `client` for the client key); none when insecure.
   */
  async token(chunkId: string, version: number, access: ChunkAccess, user = 'client', expiresAt = Date.now() + 60_000): Promise<ChunkToken | undefined> {
    return this.keys === undefined ? undefined : mintChunkToken(await readChunkTokenKey(this.keys), { chunkId, version, access, client: user, expiresAt });
  }

  /** What a client process of this cluster needs in its environment: OFS_ZK, and OFS_KEYS unless insecure. */
  clientEnv(): Record<string, string> {
    return { OFS_ZK: this.zk, ...(this.keys === undefined ? {} : { OFS_KEYS: this.keys }) };
  }

  /** An RpcClient calling as `role` (with its keys, unless the cluster is insecure). */
  async rpc(name: string, role: Role = 'client', epoch?: () => number): Promise<RpcClient> {
    return new RpcClient(name, epoch, await this.identity(role));
  }

  /** `ofs ARGS` against this cluster, as `user` (OFS_USER) if given. */
  ofs(args: string[], input?: Buffer, user?: string): Promise<CliResult> {
    return runOfs(args, { zk: this.zk, keys: this.keys, input, user });
  }

  async stop(): Promise<void> {
    await stopSupervisor(this.supervisor);
    await rm(this.dir, { recursive: true, force: true });
    running.delete(this);
  }
}

/**
 * Clusters not stopped yet. When a test outlives ava's timeout, ava ends the
 * file's process with SIGTERM and no teardown runs: the clusters are stopped
 * here instead, or they would go on running (and using the CPU) after it.
 */
const running = new Set<TestCluster>();
process.once('SIGTERM', () => {
  void Promise.all([...running].map((cluster) => cluster.stop())).finally(() => process.exit(1));
});

function clusterArgs(spec: ClusterSpec): string[] {
  return [
    '--chunkservers', String(spec.chunkservers ?? 3),
    '--masters', String(spec.masters ?? 2),
    '--replication', String(spec.replication ?? 3),
    '--chunk-size', String(spec.chunkSize ?? 256 * 1024),
    '--heartbeat-ms', String(spec.heartbeatMs ?? 300),
    '--lease-ms', String(spec.leaseMs ?? 5000),
    '--scrub-interval-ms', String(spec.scrubIntervalMs ?? 200),
    '--gc-interval', String(spec.gcIntervalMs ?? 600_000),
    ...(spec.capacity ? ['--capacity', String(spec.capacity)] : []),
    ...(spec.insecure ? ['--insecure'] : []),
    ...(spec.encryptData ? ['--encrypt-data'] : []),
    // Unless a test says otherwise, the default every user gets (DEFAULT_SESSION_TIMEOUT_MS).
    ...(spec.zkSessionMs ? ['--zk-session-ms', String(spec.zkSessionMs)] : []),
  ];
}

/** The export line `cluster up` prints once the cluster is ready (OFS_ZK, and OFS_KEYS unless insecure); rejects if it exits or takes over 90 s. */
function announced(supervisor: ChildProcess): Promise<{ zk: string; keys: string | undefined }> {
  let output = '';
  supervisor.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster not ready within 90 s:\n${output}`)), 90_000);
    supervisor.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const match = /cluster ready: export OFS_ZK=(\S+)(?: OFS_KEYS=(\S+))?/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ zk: match[1]!, keys: match[2] });
      }
    });
    supervisor.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cluster up exited with ${code}:\n${output}`));
    });
  });
}

/**
 * SIGTERM: the supervisor stops every process it started (SIGKILL to any
 * that lingers 5 s), then exits. One that has not exited within 30 s is killed.
 */
async function stopSupervisor(supervisor: ChildProcess): Promise<void> {
  if (supervisor.exitCode !== null || supervisor.signalCode !== null) return;
  const exited = new Promise((resolve) => supervisor.once('exit', resolve));
  supervisor.kill('SIGTERM');
  const timer = setTimeout(() => supervisor.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/** A cluster and a connected client for one test, both stopped when it ends. */
export async function clusterFor(t: ExecutionContext, spec: ClusterSpec = {}): Promise<{ cluster: TestCluster; client: OfsClient }> {
  const cluster = await TestCluster.start(spec);
  t.teardown(() => cluster.stop());
  const client = await cluster.client();
  t.teardown(() => client.close());
  return { cluster, client };
}
