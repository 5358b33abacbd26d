import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ExecutionContext } from 'ava';
import type { OfsClient } from '../../src/client/ofs-client.js';
import type { OfsError } from '../../src/core/errors.js';
import { sleep, type Prng } from './chaos.js';
import { patternBytes, sha256 } from './cluster.js';
import { checkAppends, type AppendAttempt } from './history/append-check.js';
import { checkFsHistory } from './history/check-fs-history.js';
import { DEFINITE_ERRORS, describeFsOperation, type FsCall, type FsOperation, type FsResult } from './history/fs-history.js';
import { encodeRecord } from './records.js';

/*
 * A workload for the history checker: several clients work on the *same*
 * names at once, and every call is recorded with its invoke and completion
 * time, its arguments and its answer. The names come in groups (a directory
 * each, with files a, b, c and a directory d), and every operation stays in
 * one group, renames included: the group is the checker's partition.
 * Alongside, all clients append records to a few shared logs, checked as
 * record append promises (at least once, whole, where acknowledged).
 */

const NAMES = ['a', 'b', 'c', 'd', 'd/x'];
/** Whole-file sizes: empty, small (bytes ride with the commit), past 64 KiB (pushed along the chain), and across a 256 KiB chunk. */
const SIZES = [0, 1, 3_000, 70_000, 300_000];

export interface SharedNamesOptions {
  root: string;
  groups: number;
  logs: number;
  /** Pause between one client's operations, in [min, max] ms. */
  pauseMs: [number, number];
}

export class SharedNamesWorkload {
  readonly history: FsOperation[] = [];
  readonly appends = new Map<string, AppendAttempt[]>();
  private running = true;
  private loops: Promise<void>[] = [];

  private constructor(
    private readonly clients: OfsClient[],
    private readonly options: SharedNamesOptions,
  ) {}

  /** Makes the group directories (each exists, empty, when the history starts), then starts one loop per client. */
  static async start(t: Pick<ExecutionContext, 'teardown'>, clients: OfsClient[], rng: Prng, options: SharedNamesOptions): Promise<SharedNamesWorkload> {
    const workload = new SharedNamesWorkload(clients, options);
    for (let g = 0; g < options.groups; g++) await clients[0]!.mkdir(workload.group(g), { parents: true });
    workload.loops = clients.map((client, c) => workload.loop(client, c, rng.fork(`shared-${c}`)));
    t.teardown(() => workload.stop(1_000));
    return workload;
  }

  /** Stops the loops and waits for their last operations, at most `timeoutMs`: one still running then stays in the history with no answer. */
  async stop(timeoutMs = 60_000): Promise<void> {
    this.running = false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.loops), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /**
   * Checks the history for linearizability and every log for its appends;
   * logs what was checked, and returns the problems found (with the failing
   * window and the seed).
   */
  async check(t: { log: (message: string) => void }, reader: OfsClient, seed: number | string): Promise<string[]> {
    const problems: string[] = [];
    const started = performance.now();
    const { verdict, report, readsHeld } = checkFsHistory(this.history, { groupOf: (path) => this.groupOf(path), seed });
    t.log(`history: ${report}; checked in ${(performance.now() - started).toFixed(0)} ms; ${readsHeld} reads held to known bytes; answers: ${this.answers()}`);
    if (verdict.kind !== 'linearizable') {
      // The whole history, for a closer look than the window gives (the checker runs on it as it is).
      const saved = join(tmpdir(), `ofs-history-${seed}.json`);
      await writeFile(saved, JSON.stringify(this.history));
      problems.push(`${report}\nthe whole history: ${saved}`);
    }

    // EINTERNAL says an invariant broke in OFS: never an allowed answer, whatever the history.
    for (const op of this.history.filter((o) => o.result && !o.result.ok && o.result.code === 'EINTERNAL').slice(0, 5)) {
      problems.push(`a bug: ${describeFsOperation(op)}: ${(op.result as { message?: string }).message} (seed ${seed})`);
    }
    let duplicates = 0;
    for (const [log, attempts] of this.appends) {
      const data = await reader.read(log);
      const { chunkSize } = await reader.stat(log);
      const check = checkAppends(data, attempts, chunkSize);
      duplicates += check.duplicates;
      t.log(`${log}: ${check.acknowledged} of ${attempts.length} appends acknowledged, ${check.unacknowledgedFound} unacknowledged found, ${check.duplicates} duplicates, ${data.length} bytes`);
      problems.push(...check.problems.slice(0, 10).map((p) => `${log}: ${p} (seed ${seed})`));
    }
    const resent = this.clients.reduce((n, c) => n + c.stats().recordsResent, 0);
    if (duplicates > resent) problems.push(`${duplicates} duplicate records in the logs, but only ${resent} were sent again in retried mutations (seed ${seed})`);
    return problems;
  }

  /** Operations with a definite answer (a result, or an error that says it took no effect), all of them, and the appends. */
  counts(): { answered: number; recorded: number; appends: number } {
    const appends = [...this.appends.values()].reduce((n, a) => n + a.length, 0);
    const answered = this.history.filter((op) => op.result && (op.result.ok || DEFINITE_ERRORS.has(op.result.code))).length;
    return { answered, recorded: this.history.length, appends };
  }

  /** `write ok 80, read ENOENT 12, ...`: what the history holds, so a run that checked little shows it. */
  private answers(): string {
    const tally = new Map<string, number>();
    for (const { call, result } of this.history) {
      const key = `${call.kind} ${result ? (result.ok ? 'ok' : result.code) : 'unanswered'}`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
    return [...tally].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, n]) => `${key} ${n}`).join(', ');
  }

  private group(g: number): string {
    return `${this.options.root}/g${g}`;
  }

  private groupOf(path: string): string {
    return path.split('/').slice(0, this.options.root.split('/').length + 1).join('/');
  }

  private async loop(client: OfsClient, c: number, rng: Prng): Promise<void> {
    for (let n = 0; this.running; n++) {
      if (rng.chance(0.1)) await this.append(client, c, n, rng);
      else await this.record(client, c, this.randomCall(rng, c, n));
      await sleep(rng.int(...this.options.pauseMs));
    }
  }

  private randomCall(rng: Prng, c: number, n: number): FsCall & { data?: Buffer } {
    const group = this.group(rng.int(0, this.options.groups - 1));
    const name = () => `${group}/${rng.pick(NAMES)}`;
    const roll = rng.next();
    if (roll < 0.3) {
      const data = patternBytes(rng.pick(SIZES), c * 1_000_000 + n + 1);
      return { kind: 'write', path: name(), digest: sha256(data), size: data.length, overwrite: rng.chance(0.8), data };
    }
    if (roll < 0.55) return { kind: 'read', path: name() };
    if (roll < 0.65) return { kind: 'list', path: rng.chance(0.8) ? group : `${group}/d` };
    if (roll < 0.7) return { kind: 'stat', path: name() };
    if (roll < 0.77) return { kind: 'mkdir', path: name() };
    if (roll < 0.87) return { kind: 'delete', path: name(), recursive: rng.chance(0.5) };
    return { kind: 'rename', from: name(), to: name() };
  }

  /** Performs one call and records it: its answer, or none when the call is still running at the end. */
  private async record(client: OfsClient, c: number, call: FsCall & { data?: Buffer }): Promise<void> {
    const { data, ...recorded } = call;
    const op: FsOperation = { id: this.history.length, client: c, invoke: performance.now(), call: recorded };
    this.history.push(op);
    const result = await perform(client, call, data).catch((err: OfsError): FsResult => ({ ok: false, code: err.code ?? 'unknown', message: err.message }));
    op.complete = performance.now();
    op.result = result;
  }

  private async append(client: OfsClient, c: number, n: number, rng: Prng): Promise<void> {
    const log = `${this.options.root}/logs/log${rng.int(0, this.options.logs - 1)}`;
    const attempt: AppendAttempt = { client: c, seq: n, record: encodeRecord(c, n, patternBytes(rng.int(1, 4_000), c * 1_000_000 + n + 1)) };
    const attempts = this.appends.get(log) ?? [];
    this.appends.set(log, attempts);
    attempts.push(attempt);
    attempt.offset = await client.append(log, attempt.record).catch(() => undefined);
  }
}

async function perform(client: OfsClient, call: FsCall, data: Buffer | undefined): Promise<FsResult> {
  switch (call.kind) {
    case 'write':
      await client.write(call.path, data!, { overwrite: call.overwrite });
      return { ok: true };
    case 'read':
      return { ok: true, digest: sha256(await client.read(call.path)) };
    case 'stat': {
      const { type, size } = await client.stat(call.path);
      return { ok: true, type, size };
    }
    case 'list':
      return { ok: true, entries: (await client.list(call.path)).map(({ name, type, size }) => ({ name, type, size })) };
    case 'mkdir':
      await client.mkdir(call.path);
      return { ok: true };
    case 'delete':
      await client.delete(call.path, { recursive: call.recursive });
      return { ok: true };
    case 'rename':
      await client.rename(call.from, call.to);
      return { ok: true };
  }
}
