import { createHash } from 'node:crypto';
import { Prng } from '../chaos.js';
import { FsModel, type Op } from '../fs-model.js';
import type { FsCall, FsOperation, FsResult, ListedEntry } from './fs-history.js';

/*
 * Random histories that are linearizable by construction: clients invoke
 * operations on a few groups of shared names, each takes effect at a random
 * point between its invoke and its completion, and its answer is what the
 * repository's sequential model (fs-model.ts) gives at that point. Some
 * operations get no answer (as when a client times out), having taken effect
 * or not. For the checker's tests: it must accept every one.
 */

const NAMES = ['a', 'b', 'c', 'd'];

export const groupOfPath = (path: string) => path.split('/').slice(0, 2).join('/');

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function randomCall(rng: Prng, group: string, serial: number): FsCall {
  const name = () => `${group}/${rng.pick(NAMES)}${rng.chance(0.2) ? `/${rng.pick(NAMES)}` : ''}`;
  switch (rng.int(0, 7)) {
    case 0:
    case 1: {
      const data = Buffer.from(`value ${serial}`);
      return { kind: 'write', path: name(), digest: sha256(data), size: data.length, overwrite: rng.chance(0.8) };
    }
    case 2:
    case 3:
      return { kind: 'read', path: name() };
    case 4:
      return rng.chance(0.5) ? { kind: 'list', path: group } : { kind: 'stat', path: name() };
    case 5:
      return { kind: 'mkdir', path: name() };
    case 6:
      return { kind: 'delete', path: name(), recursive: rng.chance(0.5) };
    default:
      return { kind: 'rename', from: name(), to: name() };
  }
}

/** The sequential model's operation for a call other than stat (writes carry bytes whose digest the call names). */
function asModelOp(call: Exclude<FsCall, { kind: 'stat' }>, data: Map<string, Buffer>): Op {
  switch (call.kind) {
    case 'write':
      return { kind: 'create', path: call.path, data: data.get(call.digest)! };
    case 'read':
      return { kind: 'read', path: call.path, offset: 0, length: 1 << 30 };
    default:
      return call;
  }
}

/** The answer OFS would give, from the sequential model's. */
function answer(call: FsCall, model: FsModel, data: Map<string, Buffer>): FsResult {
  if (call.kind === 'write' && !call.overwrite && model.apply({ kind: 'read', path: call.path, offset: 0, length: 0 }).ok) return { ok: false, code: 'EEXIST' };
  if (call.kind === 'stat') {
    // fs-model lists a file as its one entry; a directory as its children.
    const listed = model.apply({ kind: 'list', path: call.path });
    if (!listed.ok) return listed;
    const file = model.apply({ kind: 'read', path: call.path, offset: 0, length: 1 << 30 });
    return file.ok ? { ok: true, type: 'file', size: file.value!.length / 2 } : { ok: true, type: 'dir', size: 0 };
  }
  const outcome = model.apply(asModelOp(call, data));
  if (!outcome.ok) return outcome;
  if (call.kind === 'read') return { ok: true, digest: sha256(Buffer.from(outcome.value!, 'hex')) };
  if (call.kind === 'list') return { ok: true, entries: parseListing(outcome.value!) };
  return { ok: true };
}

function parseListing(value: string): ListedEntry[] {
  if (value === '') return [];
  return value.split(',').map((e) => {
    const [name, type, size] = e.split(':');
    return { name: name!, type: type as 'file' | 'dir', size: Number(size) };
  });
}

export interface RandomHistoryOptions {
  seed: number;
  operations: number;
  clients: number;
  groups: number;
  /** Share of operations left with no answer (half of them took effect). */
  unanswered?: number;
}

export function randomLinearizableHistory(options: RandomHistoryOptions): FsOperation[] {
  const rng = new Prng(options.seed);
  const groups = Array.from({ length: options.groups }, (_, g) => `/g${g}`);
  const models = new Map(groups.map((g) => [g, new FsModel(g)]));
  const data = new Map<string, Buffer>();
  const planned: (FsOperation & { at: number; takesEffect: boolean })[] = [];
  const clock = Array.from({ length: options.clients }, () => rng.next() * 5);
  for (let id = 0; id < options.operations; id++) {
    const client = id % options.clients;
    const group = rng.pick(groups);
    const call = randomCall(rng, group, id);
    if (call.kind === 'write') data.set(call.digest, Buffer.from(`value ${id}`));
    const invoke = clock[client]!;
    const at = invoke + rng.next() * 5;
    const complete = at + rng.next() * 5;
    clock[client] = complete + rng.next();
    const unanswered = rng.chance(options.unanswered ?? 0);
    planned.push({ id, client, invoke, complete: unanswered ? undefined : complete, call, at, takesEffect: !unanswered || rng.chance(0.5) });
  }
  for (const op of [...planned].sort((a, b) => a.at - b.at)) {
    if (!op.takesEffect) continue;
    const result = answer(op.call, models.get(groupOfPath(pathOf(op.call)))!, data);
    if (op.complete !== undefined) op.result = result;
  }
  return planned.map(({ at: _at, takesEffect: _t, ...op }) => op);
}

const pathOf = (call: FsCall) => (call.kind === 'rename' ? call.from : call.path);
