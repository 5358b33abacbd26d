import fc from 'fast-check';
import { MAX_BATCH, MAX_FRAMES_PER_ENVELOPE } from '../../src/transport/batch.js';
import { MAX_DATA_FRAME, protocol, type MessageType } from '../../src/transport/protocol.js';

/**
 * Bad input for a server, on purpose: ZeroMQ messages (each a list of frames)
 * that look like OFS requests and are not quite, and plain garbage. Each says
 * how many replies a server owes it, so a run can tell a dropped request from
 * a late one.
 */
export interface FuzzMessage {
  kind: string;
  frames: Buffer[];
  /** Replies owed: one per envelope of an honest batch, else one (an error naming what was wrong); none for a frame above the size limit, which drops the peer. */
  replies: number;
}

/** Ids the generator puts in envelopes: unique within a run, so each reply is matched to its request. */
export type IdSource = () => string;

const TYPES = Object.keys(protocol) as MessageType[];

/** Numbers a careless or hostile peer sends where a count, offset or version belongs. */
const badNumber = fc.oneof(
  fc.constantFrom(-1, -0, 0.5, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 31, 2 ** 32 - 1, Number.MIN_VALUE),
  fc.constantFrom('NaN', 'Infinity', '-1', '1e999', '0x10', '', ' 1'),
  fc.integer(),
  fc.double(), // NaN and ±Infinity become null in JSON
);

/** Anything at all in a field's place. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  badNumber,
  fc.constantFrom(null, true, false, [], {}, '\u0000', '__proto__', 'constructor'),
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const NAMES = ['a', 'b', 'dir', 'f.txt', '.', '..', '', ' ', 'ä', '日本', '👩‍👩‍👧', '\u202e', 'a\u0000b', '.trash', 'x'.repeat(255), 'y'.repeat(256), 'é'.repeat(200)];

/** Paths that are nearly right: long, deep, unicode, `..`, empty parts, NUL, relative. */
const path = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.oneof(fc.constantFrom(...NAMES), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 })), { maxLength: 6 }).map((parts) => `/${parts.join('/')}`) },
  { weight: 1, arbitrary: fc.integer({ min: 250, max: 2100 }).map((depth) => '/d'.repeat(depth)) },
  { weight: 1, arbitrary: fc.integer({ min: 4000, max: 8200 }).map((length) => `/${'p'.repeat(length)}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '/', '//', 'relative/path', '/a/', '/a//b', '/./a', '/a/../b', '/\u0000', '/.trash/x', '\\a') },
);

const hex = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: min, maxLength: max });

/** Well-formed chunk ids far above any the test cluster allocates, so a fuzzed order never lands on a real chunk, and bad ones. */
const chunkId = fc.oneof(
  hex(12, 12).map((h) => `ffff${h}`),
  fc.constantFrom('../../etc/passwd', '0'.repeat(15), '0'.repeat(17), 'FFFFFFFFFFFFFFFF', 'ffffffffffffffg0', ''),
);

/** Addresses a chunkserver would connect to: refused ports on loopback, and malformed ones. */
const address = fc.oneof(
  fc.integer({ min: 1, max: 65535 }).map((port) => `tcp://127.0.0.1:${port}`),
  fc.constantFrom('tcp://127.0.0.1:0', 'tcp://127.0.0.1:99999', 'tcp://:1', 'udp://127.0.0.1:1', 'tcp://[::1]:1', 'tcp://no-such-host.invalid:1', 'ipc:///tmp/x', 'tcp:// 1:1'),
);

const object = (fields: Record<string, fc.Arbitrary<unknown>>) => fc.record(fields, { requiredKeys: [] });
const reportEntry = object({ chunkId, version: badNumber, length: badNumber });

/** Near-valid values for fields by name; a field this does not know gets anything. */
const FIELDS: Record<string, fc.Arbitrary<unknown>> = {
  path, from: path, to: path, after: fc.oneof(fc.constantFrom(...NAMES), fc.string({ unit: 'grapheme', maxLength: 5000 })),
  chunkId,
  bufferId: fc.oneof(hex(8, 64), hex(65, 70), fc.constant('xyz')),
  address, source: address, chain: fc.array(fc.record({ address, curve: fc.boolean() }), { maxLength: 4 }),
  mode: fc.constantFrom('write', 'append', 'truncate', ''),
  index: fc.oneof(fc.nat(10), fc.constant('last'), badNumber),
  events: fc.oneof(fc.constant([]), fc.array(object({ seq: badNumber, epoch: badNumber, type: fc.string(), at: badNumber }), { maxLength: 3 })),
  leases: fc.array(reportEntry, { maxLength: 4 }), chunks: fc.array(reportEntry, { maxLength: 4 }),
  blocks: fc.array(badNumber, { maxLength: 4 }), deleteChunks: fc.array(chunkId, { maxLength: 3 }),
  lease: object({ leaseMs: badNumber, secondaries: fc.array(object({ id: fc.string(), address }), { maxLength: 3 }), chunkSize: badNumber }),
  newest: object({ seq: badNumber, epoch: badNumber }),
  threshold: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), badNumber),
  ms: fc.oneof(fc.constant(60_000), badNumber),
};
const small = fc.oneof(fc.nat(4096), badNumber);
const boolish = fc.oneof(fc.boolean(), anyValue);

/** A field's near-valid value: usually the kind it should hold, sometimes anything. */
function fieldValue(name: string): fc.Arbitrary<unknown> {
  const likely = FIELDS[name] ?? (/^(version|offset|length|size|serial|used|free|capacity|chunkCount|leaseMs|chunkSize)$/.test(name) ? small : boolish);
  return fc.oneof({ weight: 4, arbitrary: likely }, { weight: 1, arbitrary: anyValue });
}

function fieldsOf(type: MessageType): string[] {
  const schema = protocol[type].request as unknown as { shape?: Record<string, unknown> };
  return Object.keys(schema.shape ?? {});
}

/** The body of a `type` request, nearly right: each field near-valid or missing, now and then an extra one. */
const body = (type: MessageType): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.tuple(object(Object.fromEntries(fieldsOf(type).map((f) => [f, fieldValue(f)]))), fc.option(fc.tuple(fc.string({ maxLength: 12 }), anyValue), { freq: 5 })).map(([b, extra]) => (extra ? { ...b, [extra[0]]: extra[1] } : b)) },
    { weight: 1, arbitrary: anyValue },
  );

/**
 * The role token of a header, when the fuzzer speaks for a role: mostly the
 * valid one (so the body reaches its handler), now and then none, a mangled
 * one or garbage (so the token check is fuzzed too).
 */
const authOf = (token: string | undefined): fc.Arbitrary<string | undefined> =>
  token === undefined
    ? fc.constant(undefined)
    : fc.oneof(
        { weight: 16, arbitrary: fc.constant(token) },
        { weight: 1, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.nat(token.length - 1).map((i) => token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1)) },
        { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
      );

/** A JSON header: the right shape with a near-valid body, epoch 0 to 3 (the test cluster's), now and then huge. */
const envelope = (nextId: IdSource, token?: string): fc.Arbitrary<Buffer> =>
  fc
    .tuple(fc.constantFrom(...TYPES), fc.oneof({ weight: 9, arbitrary: fc.nat(3) }, { weight: 1, arbitrary: badNumber }), fc.string({ maxLength: 20 }), authOf(token))
    .chain(([type, epoch, from, auth]) => body(type).map((b) => Buffer.from(JSON.stringify({ type, id: nextId(), epoch, from, body: b, auth }))));

/** A header whose envelope itself is wrong: a field missing, mistyped or too long; never a usable id, so the error reply is `unknown`'s. */
const brokenEnvelope: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.record({
      type: fc.oneof(fc.constantFrom(...TYPES), fc.constantFrom('', 'x'.repeat(65), 'master.format-disk', 'reply', 'error', '__proto__'), anyValue),
      id: fc.constantFrom('', 'i'.repeat(65), 7, null, ['a'], {}),
      epoch: fc.oneof(fc.nat(3), badNumber),
      from: fc.oneof(fc.string({ maxLength: 8 }), fc.constant('f'.repeat(257)), anyValue),
      body: anyValue,
    }, { requiredKeys: ['id'] }),
  )
  .map(([e]) => Buffer.from(JSON.stringify(e)));

const garbage = fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b));

/** Data frames beside a header: none, one, or more than a message should have. */
const dataFrames = fc.oneof(
  { weight: 3, arbitrary: fc.constant([] as Buffer[]) },
  { weight: 2, arbitrary: fc.array(garbage, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_FRAMES_PER_ENVELOPE, max: MAX_FRAMES_PER_ENVELOPE + 8 }).map((n) => Array.from({ length: n }, () => Buffer.from('x'))) },
);

const one = (kind: string, frames: fc.Arbitrary<Buffer[]>): fc.Arbitrary<FuzzMessage> => frames.map((f) => ({ kind, frames: f, replies: 1 }));

/** A batch whose frame counts are right: each envelope in it is answered on its own. */
const honestBatch = (nextId: IdSource, token?: string): fc.Arbitrary<FuzzMessage> =>
  fc.array(fc.tuple(envelope(nextId, token), fc.array(garbage, { maxLength: 2 })), { minLength: 2, maxLength: 8 }).map((members) => {
    const messages = members.map(([header, data]) => [header, ...data]);
    return { kind: 'batch', frames: [Buffer.from(JSON.stringify(messages.map((m) => m.length))), ...messages.flat()], replies: members.length };
  });

/** A batch that lies about its frames: counts that do not add up, too many, zero, negative, not numbers, not JSON. */
const lyingBatch = (nextId: IdSource, token?: string): fc.Arbitrary<FuzzMessage> =>
  fc
    .tuple(
      fc.oneof(
        fc.array(fc.integer({ min: -2, max: MAX_FRAMES_PER_ENVELOPE + 2 }), { maxLength: 6 }).map((c) => JSON.stringify(c)),
        fc.constant(JSON.stringify(Array(MAX_BATCH + 1).fill(1))),
        fc.constantFrom('[1]', '[', '[1,', '[1.5,1]', '["1",1]', '[null,1]', '[1e999,1]', '[[1],[1]]'),
      ),
      fc.array(envelope(nextId, token), { maxLength: 6 }),
    )
    .filter(([counts, headers]) => !honestCounts(counts, headers.length))
    .map(([counts, headers]) => ({ kind: 'lying-batch', frames: [Buffer.from(counts), ...headers], replies: 1 }));

/** True if `counts` happen to describe `frames` frames as a valid batch (then it is not a lie). */
function honestCounts(counts: string, frames: number): boolean {
  try {
    const c: unknown = JSON.parse(counts);
    return Array.isArray(c) && c.length >= 2 && c.length <= MAX_BATCH && c.every((n) => Number.isInteger(n) && n >= 1 && n <= MAX_FRAMES_PER_ENVELOPE) && c.reduce((s: number, n: number) => s + n, 0) === frames;
  } catch {
    return false;
  }
}

/** A frame just above the size a server accepts: its peer is dropped, nothing is answered. Sent on a socket of its own. */
export const oversizeMessage = fc.integer({ min: 1, max: 4096 }).map((over): FuzzMessage => ({ kind: 'oversize', frames: [Buffer.alloc(MAX_DATA_FRAME + over, 0x7b)], replies: 0 }));

/** Every kind of bad message, weighted toward the near-valid ones that reach the handlers. */
export function fuzzMessage(nextId: IdSource, token?: string): fc.Arbitrary<FuzzMessage> {
  return fc.oneof(
    { weight: 40, arbitrary: fc.tuple(envelope(nextId, token), dataFrames).map(([h, d]): FuzzMessage => ({ kind: 'near-valid', frames: [h, ...d], replies: 1 })) },
    { weight: 8, arbitrary: one('broken-envelope', brokenEnvelope.map((h) => [h])) },
    { weight: 8, arbitrary: one('truncated', envelope(nextId, token).chain((h) => fc.nat(h.length - 1).map((n) => [h.subarray(0, n)]))) },
    { weight: 6, arbitrary: one('garbage', fc.array(garbage, { minLength: 1, maxLength: 4 })) },
    { weight: 4, arbitrary: one('wrong-json', fc.jsonValue({ maxDepth: 2 }).filter((v) => !Array.isArray(v)).map((v) => [Buffer.from(JSON.stringify(v) ?? 'null')])) },
    { weight: 8, arbitrary: honestBatch(nextId, token) },
    { weight: 8, arbitrary: lyingBatch(nextId, token) },
  );
}
