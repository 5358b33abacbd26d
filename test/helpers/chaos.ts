import { randomInt } from 'node:crypto';
import { cp, open, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { OfsClient, type ConnectOptions, type FsckReport } from '../../src/client/ofs-client.js';
import type { OfsError } from '../../src/core/errors.js';
import { patternBytes, sha256, TestCluster, type ClusterSpec } from './cluster.js';

/*
 * The chaos framework (TigerBeetle's simulator and Jepsen, at the scale of a
 * test file): every random choice, of workload and of fault, comes from one
 * seeded PRNG whose seed is printed first, so `OFS_CHAOS_SEED=N` replays the
 * same schedule of faults and the same files. The cluster is real processes,
 * so timing is not replayed; what a fault hits depends on the seed alone
 * wherever a scenario chooses it from the seed rather than from what it observed.
 *
 * The invariants, checked while the faults happen and again after them:
 * - a read of an acknowledged file never returns wrong bytes (an error is fine);
 * - once the faults stop, the cluster heals (fsck: every chunk at full
 *   replication) and every acknowledged write reads back byte for byte;
 * - every replica a chunkserver still holds at the current version holds the
 *   acknowledged bytes, and no replica fails its checksums once healed.
 */

/** A small, fast, seedable PRNG (mulberry32): the only source of chaos randomness. */
export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let x = this.state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Prng.pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `count` distinct items, in random order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const pool = [...items];
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, count);
  }

  /**
   * An independent stream named `label`: each part of a scenario (each writer,
   * the fault schedule) draws from its own, so adding draws to one part does
   * not shift what the others choose under the same seed.
   */
  fork(label: string): Prng {
    let h = this.seed ^ 0x9e3779b9;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    return new Prng((h ^ (h >>> 16)) >>> 0);
  }
}

export interface FaultEntry {
  at: number;
  kind: string;
  target: string;
  detail: string;
}

/** Every fault injected, logged as it happens (with its time since the start) and counted for the closing note. */
export class FaultLog {
  readonly entries: FaultEntry[] = [];

  constructor(
    private readonly t: ExecutionContext,
    private readonly started: number,
  ) {}

  record(kind: string, target: string, detail = ''): void {
    const at = Date.now() - this.started;
    this.entries.push({ at, kind, target, detail });
    this.t.log(`fault ${this.entries.length} at +${(at / 1000).toFixed(1)} s: ${kind} ${target}${detail ? ` (${detail})` : ''}`);
  }

  get count(): number {
    return this.entries.length;
  }

  /** `kill-9: 4, pause: 2`. */
  summary(): string {
    const byKind = new Map<string, number>();
    for (const e of this.entries) byKind.set(e.kind, (byKind.get(e.kind) ?? 0) + 1);
    return [...byKind].map(([kind, n]) => `${kind}: ${n}`).join(', ') || 'none';
  }
}

export interface ChaosOptions {
  /** Rounds of faults when OFS_CHAOS_ROUNDS is not set. */
  rounds: number;
  /** Wall time for the rounds (not counting start-up and settling), at the default round count. */
  budgetMs: number;
}

/** One scenario's seed, PRNG, round count, time budget and fault log. */
export class ChaosRun {
  readonly started = Date.now();
  readonly faults: FaultLog;
  readonly rng: Prng;
  readonly rounds: number;
  /** The rounds stop at this time even if some are left (the budget scales with OFS_CHAOS_ROUNDS). */
  readonly deadline: number;

  constructor(
    readonly t: ExecutionContext,
    readonly seed: number,
    options: ChaosOptions,
  ) {
    this.rng = new Prng(seed);
    this.faults = new FaultLog(t, this.started);
    const fromEnv = Number(process.env.OFS_CHAOS_ROUNDS);
    this.rounds = Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : options.rounds;
    this.deadline = this.started + options.budgetMs * Math.max(1, this.rounds / options.rounds);
  }

  /** Time left for rounds; scenarios stop injecting faults when it runs out. */
  outOfTime(): boolean {
    return Date.now() > this.deadline;
  }

  /** Runs `round(1..rounds)` until the rounds or the time budget run out; returns how many ran. */
  async eachRound(round: (n: number) => Promise<void>): Promise<number> {
    let n = 0;
    while (n < this.rounds && !this.outOfTime()) await round(++n);
    if (n < this.rounds) this.t.log(`time budget spent after ${n} of ${this.rounds} rounds`);
    return n;
  }

  /** `replay with OFS_CHAOS_SEED=N`: appended to every failed assertion's message. */
  get replay(): string {
    return `replay with OFS_CHAOS_SEED=${this.seed}`;
  }

  elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)} s`;
  }
}

/**
 * Starts a scenario: the seed comes from OFS_CHAOS_SEED (to replay a failure)
 * or is drawn fresh, and is printed first, as `chaos seed: N`.
 */
export function startChaos(t: ExecutionContext, options: ChaosOptions): ChaosRun {
  const fromEnv = process.env.OFS_CHAOS_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) >>> 0 : randomInt(1, 2 ** 31);
  t.log(`chaos seed: ${seed}${fromEnv ? ' (from OFS_CHAOS_SEED)' : ''}`);
  return new ChaosRun(t, seed, options);
}

/**
 * Liveness: writes a small new file, trying again until `timeoutMs`; returns
 * how long it took to be acknowledged. Throws with the last error if it never was.
 */
export async function probeWrite(client: OfsClient, path: string, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < timeoutMs) {
    try {
      await withTimeout(client.write(path, patternBytes(70_000, 3)), timeoutMs - (Date.now() - started), `write of ${path}`);
      return Date.now() - started;
    } catch (err) {
      last = `${(err as OfsError).code}: ${(err as Error).message}`;
      await sleep(500);
    }
  }
  throw new Error(`no write to ${path} was acknowledged within ${timeoutMs} ms; last error ${last}`);
}

/** `promise`, or an error naming `what` if it has not settled within `ms` (the promise itself goes on). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), Math.max(0, ms)))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// The workload: writers and readers.

/** An acknowledged write: the file's bytes are patternBytes(size, dataSeed). */
export interface AckedFile {
  path: string;
  size: number;
  dataSeed: number;
  sha: string;
  at: number;
}

/** A read that returned bytes other than the acknowledged ones: the one thing never allowed. */
export interface WrongRead {
  path: string;
  offset: number;
  length: number;
  gotLength: number;
  at: number;
}

export interface WorkloadOptions {
  /** Under this directory, one subdirectory per writer. */
  root: string;
  writers: number;
  readers: number;
  /** File sizes to choose from (seeded). */
  sizes: number[];
  /** Writes per writer at most: keeps the data (and the final verification) bounded. */
  maxWritesPerWriter: number;
  /** Pause between a writer's writes, chosen in [min, max] ms. */
  writePauseMs: [number, number];
  /** Pause between a reader's reads. */
  readPauseMs: [number, number];
  /** For the workload's clients, e.g. a shorter retryForMs. */
  connect?: Partial<ConnectOptions>;
}

export const DEFAULT_SIZES = [
  1,
  4_000,
  64 * 1024 + 17, // crosses a 64 KiB checksum block
  256 * 1024, // exactly one chunk, at the tests' chunk size
  300_000, // spans two chunks
  600_000, // spans three
];

const DEFAULT_WORKLOAD: WorkloadOptions = {
  root: '/chaos',
  writers: 3,
  readers: 2,
  sizes: DEFAULT_SIZES,
  maxWritesPerWriter: 250,
  writePauseMs: [100, 600],
  readPauseMs: [0, 80],
};

/** The bytes of an acknowledged file, rebuilt from its seed (nothing is kept in memory). */
export function expectedBytes(file: Pick<AckedFile, 'size' | 'dataSeed'>): Buffer {
  return patternBytes(file.size, file.dataSeed);
}

/**
 * Writers that create new files (each written once, so every acknowledged
 * file has exactly one right content) and readers that re-read acknowledged
 * files, whole or a range, comparing against the expected bytes, while the
 * faults happen. Every random choice comes from the run's PRNG.
 */
export class ChaosWorkload {
  readonly acked: AckedFile[] = [];
  /** Writes that failed (not acknowledged): allowed during faults. */
  readonly writeFailures: { path: string; code: string; message: string; ms: number; at: number }[] = [];
  readonly wrongReads: WrongRead[] = [];
  /** Reads of acknowledged files that failed with an error (allowed during faults), by code. */
  readonly readErrors = new Map<string, number>();
  readsOk = 0;
  bytesReadOk = 0;
  private readonly removed = new Set<string>();
  private running = true;
  private writing = true;
  private loops: Promise<void>[] = [];

  private constructor(
    private readonly t: ExecutionContext,
    private readonly options: WorkloadOptions,
    readonly clients: OfsClient[],
  ) {}

  static async start(t: ExecutionContext, cluster: TestCluster, rng: Prng, overrides: Partial<WorkloadOptions> = {}): Promise<ChaosWorkload> {
    const options = { ...DEFAULT_WORKLOAD, ...overrides };
    const clients = await Promise.all(
      Array.from({ length: options.writers + options.readers }, () => OfsClient.connect({ zk: cluster.zk, keys: cluster.keys, ...options.connect })),
    );
    t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => undefined))));
    const workload = new ChaosWorkload(t, options, clients);
    // Runs before the clients close (teardowns run last first): a failed test must not leave the loops running.
    t.teardown(() => workload.stop(1_000));
    workload.loops = [
      ...clients.slice(0, options.writers).map((c, i) => workload.writeLoop(c, i, rng.fork(`writer-${i}`))),
      ...clients.slice(options.writers).map((c, i) => workload.readLoop(c, rng.fork(`reader-${i}`))),
    ];
    return workload;
  }

  /** Files still expected to exist (acknowledged and not deliberately deleted). */
  live(): AckedFile[] {
    return this.acked.filter((f) => !this.removed.has(f.path));
  }

  /** The scenario deleted this file on purpose: it is no longer expected, or read. */
  forget(path: string): void {
    this.removed.add(path);
  }

  ackedBytes(): number {
    return this.live().reduce((n, f) => n + f.size, 0);
  }

  /** Resolves once `count` more writes are acknowledged after `since`; the liveness check of every scenario. */
  async acksAfter(since: number, count = 1, timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const after = this.acked.filter((a) => a.at > since);
      if (after.length >= count) return after[count - 1]!.at;
      if (Date.now() > deadline) {
        const recent = this.writeFailures.slice(-3).map((f) => `${f.path}: ${f.code} ${f.message}`);
        throw new Error(`only ${after.length} of ${count} writes acknowledged within ${timeoutMs} ms; last failures: ${recent.join(' | ') || 'none'}`);
      }
      await sleep(50);
    }
  }

  /**
   * Stops writers and readers and waits for their last operation, for at
   * most `timeoutMs`: an operation still running then is one the client
   * never gives up on, a liveness bug, reported in `stuck` (not waited for).
   */
  async stop(timeoutMs = 90_000): Promise<void> {
    this.running = false;
    await this.settleLoops(this.loops, timeoutMs);
  }

  /** Stops the writers only (the readers go on); waits for their last write as `stop` does. */
  async stopWriters(timeoutMs = 90_000): Promise<void> {
    this.writing = false;
    await this.settleLoops(this.loops.slice(0, this.options.writers), timeoutMs);
  }

  /** Operations that had not finished when the workload was stopped and its wait ran out. */
  readonly stuck: string[] = [];
  private readonly inFlight = new Map<string, number>();

  private async settleLoops(loops: Promise<void>[], timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.all(loops).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (finished) return;
    const now = Date.now();
    for (const [what, since] of this.inFlight) {
      const line = `${what}, running for ${Math.round((now - since) / 1000)} s`;
      if (!this.stuck.includes(line)) this.stuck.push(line);
    }
    this.t.log(`STUCK: ${this.inFlight.size} operations still running ${timeoutMs} ms after the workload was stopped: ${[...this.inFlight.keys()].join(', ')}`);
  }

  private async writeLoop(client: OfsClient, writer: number, rng: Prng): Promise<void> {
    const { root, sizes, maxWritesPerWriter, writePauseMs } = this.options;
    for (let n = 0; this.running && this.writing && n < maxWritesPerWriter; n++) {
      const path = `${root}/w${writer}/f${n}`;
      const size = rng.pick(sizes);
      const dataSeed = rng.int(1, 2 ** 31);
      const data = patternBytes(size, dataSeed);
      const startedAt = Date.now();
      const what = `write of ${path} (${size} bytes)`;
      this.inFlight.set(what, startedAt);
      try {
        await client.write(path, data);
        this.acked.push({ path, size, dataSeed, sha: sha256(data), at: Date.now() });
      } catch (err) {
        const e = err as OfsError;
        this.writeFailures.push({ path, code: e.code ?? 'unknown', message: e.message, ms: Date.now() - startedAt, at: Date.now() });
      } finally {
        this.inFlight.delete(what);
      }
      await sleep(rng.int(writePauseMs[0], writePauseMs[1]));
    }
  }

  private async readLoop(client: OfsClient, rng: Prng): Promise<void> {
    const { readPauseMs } = this.options;
    while (this.running) {
      const files = this.live();
      if (files.length === 0) {
        await sleep(100);
        continue;
      }
      // Half the reads go to the newest files: those the faults most likely caught mid-write.
      const file = rng.chance(0.5) ? rng.pick(files.slice(-20)) : rng.pick(files);
      const whole = rng.chance(0.5) || file.size < 2;
      const offset = whole ? 0 : rng.int(0, file.size - 1);
      await this.checkRead(client, file, whole ? undefined : { offset, length: rng.int(1, file.size - offset) });
      await sleep(rng.int(readPauseMs[0], readPauseMs[1]));
    }
  }

  /**
   * Reads an acknowledged file (or a range of it) and compares it with the
   * acknowledged bytes: an error is counted (allowed during faults), wrong
   * bytes are recorded as a violation.
   */
  async checkRead(client: OfsClient, file: AckedFile, range?: { offset: number; length: number }): Promise<'right' | 'error' | 'wrong'> {
    const offset = range?.offset ?? 0;
    const length = range?.length ?? file.size;
    const what = `read of ${file.path} [${offset}, +${length})`;
    this.inFlight.set(what, Date.now());
    try {
      const got = await client.read(file.path, range ?? {});
      if (this.removed.has(file.path)) return 'error'; // deleted by the scenario while being read
      const want = expectedBytes(file).subarray(offset, offset + length);
      if (got.equals(want)) {
        this.readsOk++;
        this.bytesReadOk += got.length;
        return 'right';
      }
      this.wrongReads.push({ path: file.path, offset, length, gotLength: got.length, at: Date.now() });
      this.t.log(`WRONG BYTES: read of ${file.path} [${offset}, +${length}) returned ${got.length} bytes that differ from the acknowledged ones (${describeDifference(want, got)})`);
      return 'wrong';
    } catch (err) {
      if (!this.removed.has(file.path)) {
        const code = (err as OfsError).code ?? 'unknown';
        this.readErrors.set(code, (this.readErrors.get(code) ?? 0) + 1);
      }
      return 'error';
    } finally {
      this.inFlight.delete(what);
    }
  }
}

function describeDifference(want: Buffer, got: Buffer): string {
  const n = Math.min(want.length, got.length);
  let first = -1;
  for (let i = 0; i < n; i++) {
    if (want[i] !== got[i]) {
      first = i;
      break;
    }
  }
  if (first < 0) return `lengths ${got.length} vs ${want.length}`;
  const zeros = got.subarray(first, Math.min(got.length, first + 64)).every((b) => b === 0);
  return `first difference at +${first}${zeros ? ', zeros from there' : ''}`;
}

// ---------------------------------------------------------------------------
// The cluster under test.

/**
 * A cluster (`ofs cluster up`) and a client for one chaos test. Teardown, in
 * order: the client, the cluster, then any process still running from this
 * cluster's directory — if the supervisor died, `stop` cannot reach its
 * children, and they must not outlive the test.
 */
export async function chaosCluster(t: ExecutionContext, spec: ClusterSpec): Promise<{ cluster: TestCluster; client: OfsClient }> {
  const cluster = await TestCluster.start(spec);
  let client: OfsClient | undefined;
  t.teardown(async () => {
    await client?.close().catch(() => undefined);
    if (!t.passed) {
      // The cluster's directory goes with it: keep the role logs of a failed run.
      const kept = join(tmpdir(), 'ofs-chaos-failures', `${basename(cluster.dir)}-${t.title.replace(/\W+/g, '-').slice(0, 40)}`);
      await cp(join(cluster.dir, 'logs'), kept, { recursive: true }).then(
        () => t.log(`role logs of the failed run kept in ${kept}`),
        () => undefined,
      );
    }
    const orphans = (await supervisorAlive(cluster)) ? [] : await processesOf(cluster.dir);
    await cluster.stop().catch(() => undefined);
    for (const pid of [...orphans, ...(await processesOf(cluster.dir))]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    if (orphans.length > 0) t.log(`the supervisor had died: killed ${orphans.length} orphaned processes of ${cluster.dir}`);
  });
  client = await cluster.client();
  return { cluster, client };
}

/** Pids of running processes whose command line names `dir` (the cluster's unique temp dir). */
async function processesOf(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    const pid = Number(name);
    if (!Number.isSafeInteger(pid) || pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(`${dir}/`) || cmdline.split('\0').includes(dir)) pids.push(pid);
  }
  return pids;
}

/** Whether `ofs cluster up` still runs: it alone restarts killed processes. */
export async function supervisorAlive(cluster: TestCluster): Promise<boolean> {
  const pid = await cluster.file().then((f) => f.supervisor, () => undefined);
  if (!pid) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(cluster.dir);
}

export async function assertSupervisorAlive(cluster: TestCluster, what: string): Promise<void> {
  if (!(await supervisorAlive(cluster))) {
    throw new Error(`the supervisor (ofs cluster up) of ${cluster.dir} died ${what}: nothing restarts killed processes any more`);
  }
}

// ---------------------------------------------------------------------------
// Faults. Each one refuses to touch a pid that is not a live process of this cluster.

/** The pid of a cluster process if it is running now and is ours (its command line names the cluster's dir). */
export async function livePidOf(cluster: TestCluster, id: string): Promise<number | undefined> {
  // cluster.json is rewritten on every restart; callers poll, so an unreadable moment reads as 'not running'.
  const pid = await cluster.process(id).then((p) => p.pid, () => undefined);
  if (!pid) return undefined;
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(cluster.dir) ? pid : undefined;
  } catch {
    return undefined; // exited; the supervisor has not recorded its replacement yet
  }
}

/** kill -9 of several cluster processes at once (one fault each); returns their old pids by id. */
export async function killNow(cluster: TestCluster, ids: string[], faults: FaultLog): Promise<Map<string, number>> {
  const pids = new Map<string, number>();
  for (const id of ids) {
    const pid = await livePidOf(cluster, id);
    if (pid !== undefined) pids.set(id, pid);
  }
  for (const [id, pid] of pids) {
    process.kill(pid, 'SIGKILL');
    faults.record('kill-9', id, `pid ${pid}`);
  }
  return pids;
}

/** Waits until the supervisor has replaced each killed process (a new pid, running). */
export async function waitRestarted(cluster: TestCluster, killed: Map<string, number>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const [id, oldPid] of killed) {
    for (;;) {
      const pid = await livePidOf(cluster, id);
      if (pid !== undefined && pid !== oldPid) break;
      await assertSupervisorAlive(cluster, `while ${id} (pid ${oldPid}) was to be restarted`);
      if (Date.now() > deadline) throw new Error(`${id} (pid ${oldPid}) was not restarted within ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}

/**
 * Waits for an active master in an epoch after `afterEpoch` (0: any), then
 * for a standby attached to it and in sync. No such master within the bound
 * throws; a standby that never attaches is returned as a problem (the
 * cluster works, but mutations are durable on one master only, and it cannot
 * fail over), so that the scenario goes on and reports it with the rest.
 */
export async function waitForMasters(client: OfsClient, afterEpoch: number, timeoutMs = 60_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let status = await client.status().catch(() => undefined);
  while (!status || status.master.epoch <= afterEpoch) {
    if (Date.now() > deadline) {
      throw new Error(`no master active in an epoch after ${afterEpoch} within ${timeoutMs} ms${status ? `: ${status.master.id} still active at epoch ${status.master.epoch}` : ''}`);
    }
    await sleep(200);
    status = await client.status().catch(() => undefined);
  }
  for (;;) {
    if (status?.standby.some((s) => s.inSync)) return undefined;
    if (Date.now() > deadline) {
      const standbys = status?.standby.map((s) => `${s.id} lag ${s.lag}${s.inSync ? '' : ' (not in sync)'}`).join(', ') || 'none registered';
      return `active master ${status?.master.id ?? '?'} (epoch ${status?.master.epoch ?? '?'}) had no standby attached within ${timeoutMs} ms: standbys ${standbys}`;
    }
    await sleep(200);
    status = (await client.status().catch(() => undefined)) ?? status;
  }
}

/** Notes a broken invariant for settle() to report with the rest (an assertion would stop the scenario at the first). */
export function noteProblem(t: ExecutionContext, problems: string[], problem: string | undefined): void {
  if (!problem) return;
  problems.push(problem);
  t.log(`PROBLEM: ${problem}`);
}

/** Waits until the active master counts `count` live chunkservers. */
export async function waitChunkserversLive(client: OfsClient, count: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await client.status().catch(() => undefined);
    // Recent heartbeats: a killed server the master has not yet dropped does not count.
    if (status && status.chunkservers.filter((s) => s.lastHeartbeatMs < 1_000).length >= count) return;
    if (Date.now() > deadline) {
      throw new Error(`only ${status?.chunkservers.length ?? 'unknown'} of ${count} chunkservers live after ${timeoutMs} ms`);
    }
    await sleep(200);
  }
}

/**
 * SIGSTOP a cluster process for `ms`, then SIGCONT: a process that is alive
 * but silent (a long GC, a stalled VM), so sessions and leases expire under it.
 * SIGCONT is sent even if the test fails meanwhile.
 */
export class Pauses {
  private readonly paused = new Set<number>();

  constructor(
    t: ExecutionContext,
    private readonly cluster: TestCluster,
    private readonly faults: FaultLog,
  ) {
    // Registered after the cluster's teardown, so it runs before it: a stopped process cannot handle SIGTERM.
    t.teardown(() => this.resumeAll());
  }

  async pause(id: string, ms: number, detail = ''): Promise<number | undefined> {
    const pid = await livePidOf(this.cluster, id);
    if (pid === undefined) return undefined;
    process.kill(pid, 'SIGSTOP');
    this.paused.add(pid);
    this.faults.record('pause', id, `pid ${pid}, ${ms} ms${detail ? `, ${detail}` : ''}`);
    try {
      await sleep(ms);
    } finally {
      this.resume(pid);
    }
    return pid;
  }

  private resume(pid: number): void {
    if (!this.paused.delete(pid)) return;
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // it was killed meanwhile
    }
  }

  resumeAll(): void {
    for (const pid of [...this.paused]) this.resume(pid);
  }
}

/**
 * Picks the chunk file of one replica to damage, choosing by cluster.json
 * name (chunkserver-N, stable from run to run, unlike the servers' random
 * ids) so that a seed replays the same choice. Returns its path and names.
 */
export async function pickReplicaFile(
  cluster: TestCluster,
  rng: Prng,
  chunkId: string,
  replicaIds: string[],
): Promise<{ path: string; serverId: string; name: string } | undefined> {
  const byRoleId = new Map([...(await cluster.roleIds('chunkserver'))].map(([name, roleId]) => [roleId, name]));
  const candidates = replicaIds.filter((id) => byRoleId.has(id)).sort((a, b) => byRoleId.get(a)!.localeCompare(byRoleId.get(b)!));
  if (candidates.length === 0) return undefined;
  const serverId = rng.pick(candidates);
  const dir = (await cluster.chunkserverDirs()).get(serverId)!;
  return { path: join(dir, 'chunks', `${chunkId}.data`), serverId, name: byRoleId.get(serverId)! };
}

/** XORs one byte of a file on disk with `mask` (non-zero), as a bad disk or cable would; returns the old and new byte. */
export async function flipByte(path: string, offset: number, mask: number): Promise<{ before: number; after: number }> {
  if ((mask & 0xff) === 0) throw new Error('flipByte: the mask must change the byte');
  const fh = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    const { bytesRead } = await fh.read(byte, 0, 1, offset);
    if (bytesRead !== 1) throw new Error(`flipByte: ${path} has no byte at ${offset}`);
    const before = byte[0]!;
    byte[0] = before ^ (mask & 0xff);
    await fh.write(byte, 0, 1, offset);
    return { before, after: byte[0]! };
  } finally {
    await fh.close();
  }
}

/** The bytes each chunkserver's chunk files take on disk (the `.data` files), by cluster.json id. */
export async function chunkBytesOnDisk(cluster: TestCluster): Promise<Map<string, number>> {
  const result = new Map<string, number>();
  for (const p of (await cluster.file()).processes.filter((p) => p.role === 'chunkserver')) {
    const dir = join(p.dir, 'chunks');
    let total = 0;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith('.data')) continue;
      total += await stat(join(dir, name)).then((s) => s.size, () => 0);
    }
    result.set(p.id, total);
  }
  return result;
}

// ---------------------------------------------------------------------------
// Settling: stop the faults, let the cluster heal, check everything.

/** What a direct read of every chunkserver's copy of every acknowledged chunk found. */
export interface ReplicaAudit {
  chunks: number;
  /** Copies that read back right, all servers together. */
  good: number;
  /** Bytes read back right, straight from the chunkservers. */
  bytes: number;
  /** Copies that passed their checksums yet hold other bytes (or fewer): silent corruption, never allowed. */
  wrong: string[];
  /** Copies at the current version that fail their checksums (the master hands them out, or will at the next report). */
  corrupt: string[];
  /** Replicas the master lists that the server does not have at that version. */
  listedButAbsent: string[];
  /** Chunks with fewer right copies than the replication factor. */
  short: string[];
  /** Servers that did not answer. */
  unreachable: string[];
}

function auditIsClean(a: ReplicaAudit, requireNoCorrupt: boolean): boolean {
  return a.wrong.length === 0 && (!requireNoCorrupt || a.corrupt.length === 0) && a.listedButAbsent.length === 0 && a.short.length === 0 && a.unreachable.length === 0;
}

function describeAudit(a: ReplicaAudit): string {
  const some = (xs: string[]) => (xs.length === 0 ? '0' : `${xs.length} (${xs.slice(0, 3).join('; ')}${xs.length > 3 ? '; …' : ''})`);
  return `${a.chunks} chunks, ${a.good} good copies; wrong bytes: ${some(a.wrong)}; corrupt: ${some(a.corrupt)}; listed but absent: ${some(a.listedButAbsent)}; below replication: ${some(a.short)}; unreachable: ${some(a.unreachable)}`;
}

/**
 * Reads every chunk of every file, straight from every live chunkserver (not
 * through the client, which would hide a bad replica behind a good one), and
 * compares with the acknowledged bytes.
 */
export async function auditReplicas(client: OfsClient, cluster: TestCluster, files: AckedFile[], replication: number): Promise<ReplicaAudit> {
  const audit: ReplicaAudit = { chunks: 0, good: 0, bytes: 0, wrong: [], corrupt: [], listedButAbsent: [], short: [], unreachable: [] };
  const servers = (await client.status()).chunkservers;
  const rpc = await cluster.rpc('chaos-replica-audit');
  try {
    for (const file of files) {
      const located = await client.stat(file.path);
      const bytes = expectedBytes(file);
      for (const chunk of located.chunks) {
        audit.chunks++;
        const start = chunk.index * located.chunkSize;
        const want = bytes.subarray(start, Math.min(bytes.length, start + located.chunkSize));
        const listed = new Set(chunk.replicas.map((r) => r.id));
        const where = `${file.path} #${chunk.index} ${chunk.chunkId} v${chunk.version}`;
        let good = 0;
        await Promise.all(
          servers.map(async (server) => {
            try {
              const { data } = await rpc.call(
                server.address,
                'chunk.read',
                { chunkId: chunk.chunkId, version: chunk.version, offset: 0, length: want.length, token: await cluster.token(chunk.chunkId, chunk.version, 'read') },
                { timeoutMs: 10_000 },
              );
              const got = data[0] ?? Buffer.alloc(0);
              if (got.equals(want)) {
                good++;
                audit.bytes += got.length;
              } else {
                audit.wrong.push(`${where} on ${server.id}${listed.has(server.id) ? ' (listed)' : ''}: ${describeDifference(want, got)}`);
              }
            } catch (err) {
              const e = err as OfsError;
              if (e.code === 'ECORRUPT') audit.corrupt.push(`${where} on ${server.id}${listed.has(server.id) ? ' (listed)' : ''}: ${e.message}`);
              else if (e.code === 'ENOENT' || e.code === 'ESTALE') {
                if (listed.has(server.id)) audit.listedButAbsent.push(`${where} on ${server.id}: ${e.code}`);
              } else audit.unreachable.push(`${server.id}: ${e.code} ${e.message}`);
            }
          }),
        );
        audit.good += good;
        if (good < replication) audit.short.push(`${where}: ${good} good copies`);
      }
    }
  } finally {
    rpc.close();
  }
  return audit;
}

/** Healthy as the brief of every scenario means it: each chunk healthy (or a hole), none missing or under-replicated. */
export function fsckHealthy(report: FsckReport): boolean {
  const chunks = report.files.flatMap((f) => f.chunks);
  const ok = chunks.filter((c) => c.status === 'healthy' || c.status === 'hole').length;
  return ok === report.summary.chunks && report.summary.missing === 0 && report.summary.underReplicated === 0;
}

export interface SettleOptions {
  /** Root of the workload's files, for fsck. */
  root: string;
  replication: number;
  /** How long the cluster may take to heal (fsck healthy and a clean replica audit). */
  healTimeoutMs?: number;
  /**
   * Whether a copy that fails its checksums may remain once healed. True for
   * every scenario that does not corrupt disks; the corrupt-bytes scenario
   * relies on corrupt-replica reports and the scrubber to make it true.
   */
  requireNoCorruptReplicas?: boolean;
  /** Broken invariants the scenario found itself, reported with the rest. */
  violations?: string[];
}

export interface SettleResult {
  healedMs: number | undefined;
  lost: number;
  corrupt: number;
  bytesVerified: number;
  audit: ReplicaAudit;
  fsck: FsckReport['summary'] | undefined;
}

/**
 * After the faults: the workload is stopped; then wait (bounded) until fsck
 * is healthy and every chunkserver's copy checks out; then read every
 * acknowledged file back through a client, byte for byte. Asserts zero wrong
 * reads during the faults, zero lost or corrupt writes, a healed cluster.
 */
export async function settle(run: ChaosRun, cluster: TestCluster, client: OfsClient, workload: ChaosWorkload, options: SettleOptions): Promise<SettleResult> {
  const { t } = run;
  const healTimeoutMs = options.healTimeoutMs ?? 120_000;
  const requireNoCorrupt = options.requireNoCorruptReplicas ?? true;
  await workload.stop(60_000);
  const files = workload.live();
  t.log(`faults over at ${run.elapsed()}: ${workload.acked.length} writes acknowledged (${mib(workload.ackedBytes())}), ${workload.writeFailures.length} failed (not acknowledged); settling`);

  // 1. Heal: fsck healthy and every copy right, within the bound.
  const healStart = Date.now();
  let healedMs: number | undefined;
  let fsck: FsckReport | undefined;
  let audit: ReplicaAudit | undefined;
  for (;;) {
    fsck = await client.fsck(options.root).catch(() => undefined);
    if (fsck && fsckHealthy(fsck)) {
      audit = await auditReplicas(client, cluster, files, options.replication).catch(() => audit);
      if (audit && auditIsClean(audit, requireNoCorrupt)) {
        healedMs = Date.now() - healStart;
        break;
      }
    }
    if (Date.now() - healStart > healTimeoutMs) break;
    await sleep(1000);
  }
  audit ??= await auditReplicas(client, cluster, files, options.replication);
  const fsckLine = fsck ? JSON.stringify(fsck.summary) : 'fsck failed';
  if (healedMs !== undefined) t.log(`healed ${healedMs} ms after the faults stopped: fsck ${fsckLine}`);
  else t.log(`NOT HEALED within ${healTimeoutMs} ms: fsck ${fsckLine}; replicas: ${describeAudit(audit)}`);

  // 2. Every acknowledged write, byte for byte, through a client.
  let lost = 0;
  let corrupt = 0;
  let bytesVerified = 0;
  for (const file of files) {
    let got: Buffer | undefined;
    let error = '';
    for (let attempt = 1; attempt <= 3 && !got; attempt++) {
      got = await client.read(file.path).catch((err: OfsError) => {
        error = `${err.code}: ${err.message}`;
        return undefined;
      });
      if (!got) await sleep(1000);
    }
    if (!got) {
      lost++;
      if (lost <= 5) t.log(`LOST: acknowledged ${file.path} (${file.size} bytes) cannot be read: ${error}`);
    } else if (sha256(got) !== file.sha) {
      corrupt++;
      if (corrupt <= 5) t.log(`CORRUPT: acknowledged ${file.path} reads back different (${describeDifference(expectedBytes(file), got)})`);
    } else bytesVerified += got.length;
  }

  const result: SettleResult = { healedMs, lost, corrupt, bytesVerified, audit, fsck: fsck?.summary };
  closingNote(run, workload, result);

  // Every broken invariant at once (an ava assertion stops the test at the first).
  const violations: string[] = [...(options.violations ?? [])];
  if (workload.wrongReads.length > 0) violations.push(`${workload.wrongReads.length} reads during the faults returned wrong bytes`);
  if (lost > 0) violations.push(`${lost} of ${files.length} acknowledged writes are lost`);
  if (corrupt > 0) violations.push(`${corrupt} of ${files.length} acknowledged writes read back corrupt`);
  if (audit.wrong.length > 0) violations.push(`${audit.wrong.length} copies pass their checksums but hold other bytes: ${audit.wrong.slice(0, 3).join('; ')}`);
  if (!fsck || !fsckHealthy(fsck)) violations.push(`fsck not healthy ${healTimeoutMs} ms after the faults: ${fsckLine}`);
  if (!auditIsClean(audit, requireNoCorrupt)) violations.push(`replicas not healed ${healTimeoutMs} ms after the faults: ${describeAudit(audit)}`);
  if (files.length === 0) violations.push('the workload acknowledged no write at all');
  if (workload.stuck.length > 0) violations.push(`${workload.stuck.length} client operations never finished (no error, no result): ${workload.stuck.slice(0, 3).join('; ')}`);
  if (!(await supervisorAlive(cluster))) violations.push('the supervisor (ofs cluster up) died during the run: killed processes were no longer restarted, and its children were orphaned');
  t.deepEqual(violations, [], `chaos invariants broken; ${run.replay}`);
  return result;
}

/** The closing note: seed, faults, workload, verification. */
function closingNote(run: ChaosRun, workload: ChaosWorkload, result: SettleResult): void {
  const readErrors = [...workload.readErrors].map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  const failures = new Map<string, number>();
  for (const f of workload.writeFailures) failures.set(f.code, (failures.get(f.code) ?? 0) + 1);
  run.t.log(
    [
      `chaos seed ${run.seed}: ${run.faults.count} faults injected (${run.faults.summary()}) in ${run.elapsed()}`,
      `writes: ${workload.acked.length} acknowledged, ${workload.writeFailures.length} failed (${[...failures].map(([c, n]) => `${c} ${n}`).join(', ') || 'none'})`,
      `reads during faults: ${workload.readsOk} right (${mib(workload.bytesReadOk)}), ${workload.wrongReads.length} wrong, errors: ${readErrors}`,
      `verified after: ${workload.live().length} files, ${result.bytesVerified} bytes (${mib(result.bytesVerified)}) through the client; ${result.audit.good} replica copies, ${mib(result.audit.bytes)} straight from the chunkservers`,
      `healed in ${result.healedMs === undefined ? 'NEVER (timed out)' : `${result.healedMs} ms`}`,
    ].join('\n'),
  );
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
