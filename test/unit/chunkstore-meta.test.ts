import test from 'ava';
import { BLOCK_SIZE } from '../../src/storage/block-checksums.js';
import {
  decodeMetaFile,
  encodeMetaFile,
  encodeSlot,
  fitsSlot,
  slotOffset,
  slotStrideFor,
  type ChunkMeta,
  type DecodedMetaFile,
} from '../../src/storage/chunk-meta.js';
import { OfsError } from '../../src/core/errors.js';
import { formatOneMetaBytes } from '../helpers/legacy-chunk-meta.js';

const B = BLOCK_SIZE;
const ID = '00000000deadbeef';
const STRIDE = slotStrideFor(4 * B);

const older: ChunkMeta = { id: ID, version: 41, length: B + 7, crcs: new Uint32Array([5, 6]) };
const newer: ChunkMeta = { id: ID, version: 42, length: 2 * B + 1, crcs: new Uint32Array([1, 2, 0xffffffff]) };

/** A new format-2 file as it reads back: the bytes written, then zeros (a hole) to its length. */
function newFile(meta: ChunkMeta, stride = STRIDE): Buffer {
  const { head, length } = encodeMetaFile(meta, stride);
  return Buffer.concat([head, Buffer.alloc(length - head.length)]);
}

/** A format-2 file whose slots hold these metas at these generations. */
function fileWithSlots(slot0: [ChunkMeta, number], slot1: [ChunkMeta, number]): Buffer {
  const file = newFile(slot0[0]);
  encodeSlot(...slot0).copy(file, slotOffset(STRIDE, 0));
  encodeSlot(...slot1).copy(file, slotOffset(STRIDE, 1));
  return file;
}

/** The meta and the slot chosen; whether the other slot was bad is checked by what the store does with it (chunkstore-meta-file.test.ts). */
const plain = ({ otherSlotBad: _, ...decoded }: DecodedMetaFile) => ({ ...decoded, meta: { ...decoded.meta, crcs: [...decoded.meta.crcs] } });
const expected = (meta: ChunkMeta, newest?: DecodedMetaFile['newest']) => plain({ meta, ...(newest && { newest }) });

function flipBit(bytes: Buffer, bit: number): Buffer {
  const flipped = Buffer.from(bytes);
  flipped[bit >> 3] ^= 1 << (bit & 7);
  return flipped;
}

test('format 2 encodes and decodes to the same thing; the valid slot with the higher generation wins', (t) => {
  t.deepEqual(plain(decodeMetaFile(newFile(newer), ID)), expected(newer, { stride: STRIDE, index: 0, generation: 1 }));
  const { head, length } = encodeMetaFile(newer, STRIDE);
  t.is(length, slotOffset(STRIDE, 1) + STRIDE, 'a new file has its final size');
  t.is(head.length, slotOffset(STRIDE, 0) + 52, 'only the header and the first slot\'s frame are written');
  const cases: [slot0: [ChunkMeta, number], slot1: [ChunkMeta, number], want: DecodedMetaFile][] = [
    [[older, 1], [newer, 2], { meta: newer, newest: { stride: STRIDE, index: 1, generation: 2 } }],
    [[newer, 3], [older, 2], { meta: newer, newest: { stride: STRIDE, index: 0, generation: 3 } }],
    [[older, 6], [newer, 7], { meta: newer, newest: { stride: STRIDE, index: 1, generation: 7 } }],
  ];
  for (const [slot0, slot1, want] of cases) {
    t.deepEqual(plain(decodeMetaFile(fileWithSlots(slot0, slot1), ID)), expected(want.meta, want.newest));
  }
});

for (const newerIndex of [0, 1] as const) {
  test(`every truncation and every single-bit flip of the newer slot (slot ${newerIndex}) falls back to the older slot`, (t) => {
    const olderIndex = newerIndex === 0 ? 1 : 0;
    const slots: [[ChunkMeta, number], [ChunkMeta, number]] =
      newerIndex === 0 ? [[newer, 9], [older, 8]] : [[older, 8], [newer, 9]];
    const file = fileWithSlots(...slots);
    const fallback = expected(older, { stride: STRIDE, index: olderIndex, generation: 8 });
    const start = slotOffset(STRIDE, newerIndex);
    const frame = encodeSlot(newer, 9);
    // What the slot held before this write: the meta two updates back, which the torn write only partly covers.
    const before = Buffer.from(file);
    before.fill(0, start, start + STRIDE);
    encodeSlot({ ...older, version: 40 }, 7).copy(before, start);
    for (let len = 0; len < frame.length; len++) {
      const torn = Buffer.from(before);
      frame.copy(torn, start, 0, len);
      t.deepEqual(plain(decodeMetaFile(torn, ID)), fallback, `torn after ${len} bytes`);
      // The file cut inside the newer slot: only slot 1 can be cut and leave the other slot whole.
      if (newerIndex === 1) t.deepEqual(plain(decodeMetaFile(file.subarray(0, start + len), ID)), fallback, `cut at ${start + len}`);
    }
    for (let bit = 0; bit < frame.length * 8; bit++) {
      t.deepEqual(plain(decodeMetaFile(flipBit(file, start * 8 + bit), ID)), fallback, `bit ${bit} of the newer slot flipped`);
    }
  });
}

test('every single-bit flip in the header is ECORRUPT naming its offset', (t) => {
  const file = fileWithSlots([older, 1], [newer, 2]);
  for (let bit = 0; bit < 16 * 8; bit++) {
    const err = t.throws(() => decodeMetaFile(flipBit(file, bit), ID), { instanceOf: OfsError });
    t.is(err?.code, 'ECORRUPT');
    // The magic is checked on its own; the format, the stride and the CRC itself fail the header CRC.
    t.regex(err?.message ?? '', bit < 32 ? /^chunk 00000000deadbeef meta file, offset 0: bad magic/ : /^chunk 00000000deadbeef meta file, offset 12: header CRC32C/);
  }
});

test('a flip in each slot, or both slots torn, is ECORRUPT naming both slots and their offsets', (t) => {
  const file = fileWithSlots([older, 1], [newer, 2]);
  const bits0 = encodeSlot(older, 1).length * 8;
  const bits1 = encodeSlot(newer, 2).length * 8;
  for (let bit = 0; bit < bits0; bit++) {
    const other = (bit * 7919) % bits1;
    const damaged = flipBit(flipBit(file, slotOffset(STRIDE, 0) * 8 + bit), slotOffset(STRIDE, 1) * 8 + other);
    const err = t.throws(() => decodeMetaFile(damaged, ID), { instanceOf: OfsError });
    t.is(err?.code, 'ECORRUPT');
    t.regex(err?.message ?? '', /^chunk 00000000deadbeef meta file, offset 512: neither slot holds a valid meta \(slot 0 at offset \d+: .*; slot 1 at offset \d+: /);
  }
  t.throws(() => decodeMetaFile(file.subarray(0, slotOffset(STRIDE, 0) + 20), ID), {
    message: /neither slot holds a valid meta \(slot 0 at offset 532: 20 bytes, shorter .*; slot 1 at offset \d+: 0 bytes/,
  });
});

test('a slot of another chunk is not taken; a file of another chunk or of garbage is refused', (t) => {
  const other = { ...newer, id: '00000000deadbeee' };
  t.deepEqual(plain(decodeMetaFile(fileWithSlots([older, 1], [other, 2]), ID)), expected(older, { stride: STRIDE, index: 0, generation: 1 }));
  t.throws(() => decodeMetaFile(newFile(other), ID), { message: /slot 0 at offset 520: frame belongs to chunk 00000000deadbeee/ });
  t.throws(() => decodeMetaFile(Buffer.alloc(100, 0x41), ID), { message: /^chunk 00000000deadbeef meta file, offset 0: bad magic/ });
  t.throws(() => decodeMetaFile(Buffer.alloc(10), ID), { message: /offset 10: file is 10 bytes, shorter than the 16-byte header/ });
});

test('a format-1 file decodes, with no slot; every truncation and single-bit flip of it is ECORRUPT', (t) => {
  const bytes = formatOneMetaBytes(newer);
  t.deepEqual(plain(decodeMetaFile(bytes, ID)), expected(newer));
  for (let len = 0; len < bytes.length; len++) {
    const err = t.throws(() => decodeMetaFile(bytes.subarray(0, len), ID), { instanceOf: OfsError });
    t.is(err?.code, 'ECORRUPT');
  }
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const err = t.throws(() => decodeMetaFile(flipBit(bytes, bit), ID), { instanceOf: OfsError });
    t.is(err?.code, 'ECORRUPT');
  }
  t.throws(() => decodeMetaFile(Buffer.concat([bytes, Buffer.alloc(1)]), ID), { message: /offset 52: file is 53 bytes/ });
  t.throws(() => decodeMetaFile(bytes, '00000000deadbeee'), { message: /offset 8: frame belongs to chunk 00000000deadbeef/ });
});

test('the stride for a maximum chunk size holds that chunk\'s meta and is whole sectors', (t) => {
  for (const max of [1, B, 4 * B + 1, 64 * 1024 * 1024]) {
    const stride = slotStrideFor(max);
    const blocks = Math.ceil(max / B);
    t.is(stride % 512, 0);
    t.true(fitsSlot({ id: ID, version: 1, length: max, crcs: new Uint32Array(blocks) }, stride));
    t.false(fitsSlot({ id: ID, version: 1, length: 0, crcs: new Uint32Array(blocks + stride / 4) }, stride));
  }
  t.is(slotStrideFor(64 * 1024 * 1024), 4608);
});

test('a meta whose checksum count does not match its length is refused when written', (t) => {
  t.throws(() => encodeSlot({ ...newer, length: 1 }, 1), { instanceOf: OfsError, message: /3 block checksums for length 1/ });
  t.throws(() => encodeMetaFile(newer, 512 + 1), { instanceOf: OfsError, message: /does not fit a slot stride of 513/ });
});
