import test from 'ava';
import fc from 'fast-check';
import { crc32c } from '@node-rs/crc32';
import {
  decodeRecords,
  encodeRecord,
  encodeRecords,
  MAX_RECORD_BYTES,
  RECORD_HEADER_BYTES,
} from '../../src/storage/journal-codec.js';
import { OfsError } from '../../src/core/errors.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const header = (length: number, crc: number) => {
  const h = Buffer.alloc(RECORD_HEADER_BYTES);
  h.writeUInt32LE(length, 0);
  h.writeUInt32LE(crc, 4);
  return h;
};
const flip = (buf: Buffer, at: number) => {
  const copy = Buffer.from(buf);
  copy[at]! ^= 0x01;
  return copy;
};

test('encodeRecord frames as [u32 LE length][u32 LE crc32c][payload]', (t) => {
  const frame = encodeRecord(b('hello'));
  t.is(frame.readUInt32LE(0), 5);
  t.is(frame.readUInt32LE(4), crc32c(b('hello')));
  t.deepEqual(frame.subarray(8), b('hello'));
});

test('encodeRecord refuses empty and oversized payloads', (t) => {
  t.is(t.throws(() => encodeRecord(Buffer.alloc(0)), { instanceOf: OfsError })!.code, 'EINVAL');
  t.is(t.throws(() => encodeRecord(Buffer.alloc(MAX_RECORD_BYTES + 1)), { instanceOf: OfsError })!.code, 'EINVAL');
});

const roundTrips: { name: string; payloads: string[] }[] = [
  { name: 'no records', payloads: [] },
  { name: 'one byte', payloads: ['x'] },
  { name: 'one JSON record', payloads: ['{"seq":1,"type":"FileCreated"}'] },
  { name: 'several', payloads: ['a', 'bb', 'ccc', '{"seq":4}'] },
  { name: 'multi-byte UTF-8', payloads: ['{"path":"/données/文件"}', 'é'] },
  { name: 'payload full of zeros', payloads: ['\u0000\u0000\u0000', 'z'] },
  { name: 'a large record', payloads: ['y'.repeat(1 << 20), 'tail'] },
];
for (const { name, payloads } of roundTrips) {
  test(`round trip: ${name}`, (t) => {
    const buf = encodeRecords(payloads.map(b));
    const out = decodeRecords(buf);
    t.deepEqual(out.records.map((r) => r.toString('utf8')), payloads);
    t.is(out.validEnd, buf.length);
    t.is(out.problem, undefined);
    let expected = 0;
    for (const [i, off] of out.offsets.entries()) {
      t.is(off, expected);
      expected += RECORD_HEADER_BYTES + b(payloads[i]!).length;
    }
  });
}

test('decodeRecords honours startOffset and reports absolute offsets', (t) => {
  const prefix = Buffer.from('garbage!');
  const buf = Buffer.concat([prefix, encodeRecords([b('one'), b('two')])]);
  const out = decodeRecords(buf, prefix.length);
  t.deepEqual(out.records.map(String), ['one', 'two']);
  t.deepEqual(out.offsets, [8, 8 + 11]);
  t.is(out.validEnd, buf.length);
});

// Each case: bytes after two good records ("one", "two") → what the decoder must say.
const good = encodeRecords([b('one'), b('two')]);
const third = encodeRecord(b('three'));
const damage: { name: string; tail: Buffer; kind: 'torn' | 'corrupt' | undefined; kept: number }[] = [
  { name: 'clean end', tail: Buffer.alloc(0), kind: undefined, kept: 2 },
  { name: '1 header byte', tail: third.subarray(0, 1), kind: 'torn', kept: 2 },
  { name: '7 header bytes', tail: third.subarray(0, 7), kind: 'torn', kept: 2 },
  { name: 'header only', tail: third.subarray(0, 8), kind: 'torn', kept: 2 },
  { name: 'payload cut short', tail: third.subarray(0, 10), kind: 'torn', kept: 2 },
  { name: 'bad CRC, last in file', tail: flip(third, 9), kind: 'torn', kept: 2 },
  { name: 'payload zeroed, last in file', tail: Buffer.concat([third.subarray(0, 8), Buffer.alloc(5)]), kind: 'torn', kept: 2 },
  { name: 'zero-filled tail', tail: Buffer.alloc(4096), kind: 'torn', kept: 2 },
  { name: 'zero header then short', tail: Buffer.alloc(3), kind: 'torn', kept: 2 },
  { name: 'bad CRC then zeros', tail: Buffer.concat([flip(third, 9), Buffer.alloc(100)]), kind: 'torn', kept: 2 },
  { name: 'absurd length, header only', tail: header(MAX_RECORD_BYTES + 1, 0), kind: 'torn', kept: 2 },
  { name: 'bad CRC then a good record', tail: Buffer.concat([flip(third, 9), encodeRecord(b('four'))]), kind: 'corrupt', kept: 2 },
  { name: 'bad CRC then garbage', tail: Buffer.concat([flip(third, 9), b('x')]), kind: 'corrupt', kept: 2 },
  { name: 'absurd length then data', tail: Buffer.concat([header(0xffffffff, 0), b('more')]), kind: 'corrupt', kept: 2 },
  { name: 'zero length then data', tail: Buffer.concat([header(0, 0), encodeRecord(b('four'))]), kind: 'corrupt', kept: 2 },
  { name: 'good record after good', tail: third, kind: undefined, kept: 3 },
];
for (const { name, tail, kind, kept } of damage) {
  test(`decode damage: ${name} → ${kind ?? 'clean'}`, (t) => {
    const out = decodeRecords(Buffer.concat([good, tail]));
    t.is(out.records.length, kept);
    t.is(out.problem?.kind, kind);
    if (kind) {
      t.is(out.validEnd, good.length);
      t.is(out.problem!.offset, good.length);
    }
  });
}

test('a damaged middle record is corrupt at its own offset, records before it survive', (t) => {
  const buf = encodeRecords([b('one'), b('two'), b('three')]);
  const secondAt = RECORD_HEADER_BYTES + 3;
  const out = decodeRecords(flip(buf, secondAt + RECORD_HEADER_BYTES + 1));
  t.deepEqual(out.records.map(String), ['one']);
  t.deepEqual(out.problem && { kind: out.problem.kind, offset: out.problem.offset }, { kind: 'corrupt', offset: secondAt });
});

const payloads = fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 12 });

test('property: any prefix of an encoding decodes to a prefix of the records, torn or clean', (t) => {
  fc.assert(
    fc.property(payloads, fc.nat(), (ps, cutSeed) => {
      const all = ps.map((p) => Buffer.from(p));
      const buf = encodeRecords(all);
      const cut = buf.length === 0 ? 0 : cutSeed % (buf.length + 1);
      const out = decodeRecords(buf.subarray(0, cut));
      const whole = out.records.length;
      const end = all.slice(0, whole).reduce((n, p) => n + RECORD_HEADER_BYTES + p.length, 0);
      return (
        out.records.every((r, i) => r.equals(all[i]!)) &&
        out.validEnd === end &&
        (cut === end ? out.problem === undefined : out.problem?.kind === 'torn') &&
        (out.problem === undefined || out.problem.offset === end)
      );
    }),
  );
  t.pass();
});

test('property: a flipped bit never yields a wrong record', (t) => {
  fc.assert(
    fc.property(payloads.filter((ps) => ps.length > 0), fc.nat(), fc.integer({ min: 0, max: 7 }), (ps, atSeed, bit) => {
      const all = ps.map((p) => Buffer.from(p));
      const buf = Buffer.from(encodeRecords(all));
      buf[atSeed % buf.length]! ^= 1 << bit;
      const out = decodeRecords(buf);
      return out.problem !== undefined && out.records.every((r, i) => r.equals(all[i]!));
    }),
  );
  t.pass();
});
