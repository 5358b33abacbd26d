import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { OfsClient } from '../../src/client/ofs-client.js';
import type { OfsError } from '../../src/core/errors.js';
import { FsModel, type Op, type Outcome } from './fs-model.js';
import { decodeRecordAt, encodeRecord } from './records.js';

const CLIENTS = 3;
const CHUNK = 64 * 1024;

/** Paths of one client's lane: at most two levels of a, b, c. */
const relative = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 2 }).map((parts) => parts.join('/'));
const size = fc.integer({ min: 0, max: 3 * CHUNK });
const fillByte = fc.integer({ min: 1, max: 255 });
const offset = fc.integer({ min: 0, max: 3 * CHUNK });

/**
 * One client's step as plain data (so that fast-check prints a failing
 * sequence readably): paths are relative to the client's lane, bytes are a
 * size and a fill byte, and `append` adds a record of that size to the log.
 */
type Step =
  | { kind: 'create'; path: string; size: number; fill: number }
  | { kind: 'writeAt'; path: string; offset: number; size: number; fill: number }
  | { kind: 'read'; path: string; offset: number; length: number }
  | { kind: 'mkdir'; path: string }
  | { kind: 'delete'; path: string; recursive: boolean }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'list'; path: string }
  | { kind: 'append'; size: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), path: relative, size, fill: fillByte }),
  fc.record({ kind: fc.constant('writeAt' as const), path: relative, offset, size, fill: fillByte }),
  fc.record({ kind: fc.constant('read' as const), path: relative, offset, length: fc.integer({ min: 0, max: 2 * CHUNK }) }),
  fc.record({ kind: fc.constant('mkdir' as const), path: relative }),
  fc.record({ kind: fc.constant('delete' as const), path: relative, recursive: fc.boolean() }),
  fc.record({ kind: fc.constant('rename' as const), from: relative, to: relative }),
  fc.record({ kind: fc.constant('list' as const), path: fc.oneof(relative, fc.constant('')) }),
  fc.record({ kind: fc.constant('append' as const), size: fc.integer({ min: 1, max: 2000 }) }),
);

/** Rounds of operations: in each round every client does one, all at once. */
export const rounds = (count: number) =>
  fc.array(fc.array(step, { minLength: CLIENTS, maxLength: CLIENTS }), { minLength: Math.ceil(count / 2), maxLength: count, size: 'max' });

/** A step of a client's lane as the model's operation on absolute paths. */
function resolve(lane: string, s: Exclude<Step, { kind: 'append' }>): Op {
  const at = (p: string) => (p ? `${lane}/${p}` : lane);
  switch (s.kind) {
    case 'create':
      return { kind: 'create', path: at(s.path), data: Buffer.alloc(s.size, s.fill) };
    case 'writeAt':
      return { kind: 'writeAt', path: at(s.path), offset: s.offset, data: Buffer.alloc(s.size, s.fill) };
    case 'read':
      return { kind: 'read', path: at(s.path), offset: s.offset, length: s.length };
    case 'mkdir':
    case 'list':
      return { kind: s.kind, path: at(s.path) };
    case 'delete':
      return { kind: 'delete', path: at(s.path), recursive: s.recursive };
    case 'rename':
      return { kind: 'rename', from: at(s.from), to: at(s.to) };
  }
}

let lastError = '';
async function perform(client: OfsClient, op: Op): Promise<Outcome> {
  try {
    switch (op.kind) {
      case 'create':
        await client.write(op.path, op.data);
        return { ok: true };
      case 'writeAt':
        await client.write(op.path, op.data, { offset: op.offset });
        return { ok: true };
      case 'read':
        return { ok: true, value: (await client.read(op.path, { offset: op.offset, length: op.length })).toString('hex') };
      case 'mkdir':
        await client.mkdir(op.path);
        return { ok: true };
      case 'delete':
        await client.delete(op.path, { recursive: op.recursive });
        return { ok: true };
      case 'rename':
        await client.rename(op.from, op.to);
        return { ok: true };
      case 'list': {
        const entries = await client.list(op.path);
        const single = entries.length === 1 && entries[0]!.type === 'file' && op.path.endsWith(`/${entries[0]!.name}`);
        const shown = entries.map((e) => `${e.name}:${e.type}:${e.size}`);
        return { ok: true, value: single ? shown[0] : shown.sort().join(',') };
      }
    }
  } catch (err) {
    lastError = (err as Error).message;
    return { ok: false, code: (err as OfsError).code ?? String(err) };
  }
}

/**
 * Runs random rounds against the cluster: each client works in its own lane
 * (so its results are checked against the sequential model while the others
 * run at the same time) and all of them append records to one shared log,
 * checked as record append promises. fast-check shrinks a failure to a
 * minimal sequence and prints the seed that replays it.
 */
export async function checkAgainstModel(t: ExecutionContext, clients: OfsClient[], options: { runs: number; rounds: number; seed?: number; timeLimitMs: number }): Promise<number> {
  let operations = 0;
  let run = 0;
  let firstFailure: string | undefined;
  const check = fc.assert(
    fc.asyncProperty(rounds(options.rounds), async (plan) => {
      const root = `/model/run${run++}`;
      const lanes = clients.map((_, c) => `${root}/c${c}`);
      await Promise.all(lanes.map((lane, c) => clients[c]!.mkdir(lane, { parents: true })));
      const models = lanes.map((lane) => new FsModel(lane));
      const log = `${root}/shared.log`;
      const appended: { writer: number; seq: number; offset: number; size: number }[] = [];
      for (const [r, round] of plan.entries()) {
        await Promise.all(
          round.map(async (s, c) => {
            operations++;
            if (s.kind === 'append') {
              const record = encodeRecord(c, r, Buffer.alloc(s.size, c + 1));
              const offset = await clients[c]!.append(log, record);
              appended.push({ writer: c, seq: r, offset, size: record.length });
              return;
            }
            const op = resolve(lanes[c]!, s);
            const expected = models[c]!.apply(op);
            const actual = await perform(clients[c]!, op);
            if (JSON.stringify(actual) !== JSON.stringify(expected)) {
              firstFailure ??= `round ${r}, client ${c}: ${JSON.stringify(s)} gave ${JSON.stringify(actual).slice(0, 300)}, the model says ${JSON.stringify(expected).slice(0, 300)} (last error: ${lastError})`;
              throw new Error(`round ${r}, client ${c}: ${JSON.stringify(s)} gave ${JSON.stringify(actual).slice(0, 200)}, the model says ${JSON.stringify(expected).slice(0, 200)}`);
            }
          }),
        );
      }
      if (appended.length > 0) {
        const data = await clients[0]!.read(log);
        for (const a of appended) {
          const found = decodeRecordAt(data, a.offset);
          if (!found || found.writer !== a.writer || found.seq !== a.seq || found.length !== a.size) {
            throw new Error(`appended record ${a.writer}/${a.seq} is not whole at offset ${a.offset}`);
          }
        }
      }
    }),
    { numRuns: options.runs, seed: options.seed, endOnFailure: process.env.OFS_MODEL_NO_SHRINK === '1', interruptAfterTimeLimit: options.timeLimitMs, markInterruptAsFailure: true, verbose: 1 },
  );
  await check.catch((err: Error) => {
    if (firstFailure) t.log(`first mismatch: ${firstFailure}`);
    throw err;
  });
  t.log(`${operations} operations checked against the model (${options.runs} runs)`);
  return operations;
}
