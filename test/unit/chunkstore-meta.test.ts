import test from 'ava';
import { BLOCK_SIZE } from '../../src/storage/block-checksums.js';
import { decodeMeta, encodeMeta, type ChunkMeta } from '../../src/storage/chunk-meta.js';
import { OfsError } from '../../src/core/errors.js';

const B = BLOCK_SIZE;

const meta: ChunkMeta = { id: '00000000deadbeef', version: 42, length: 2 * B + 1, crcs: new Uint32Array([1, 2, 0xffffffff]) };

test('meta encodes and decodes to the same thing', (t) => {
  const back = decodeMeta(encodeMeta(meta), meta.id);
  t.deepEqual({ ...back, crcs: [...back.crcs] }, { ...meta, crcs: [...meta.crcs] });
});

test('every truncation and every single-bit flip of a meta file is detected', (t) => {
  const bytes = encodeMeta(meta);
  for (let len = 0; len < bytes.length; len++) {
    t.throws(() => decodeMeta(bytes.subarray(0, len), meta.id), { instanceOf: OfsError });
  }
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const flipped = Buffer.from(bytes);
    flipped[bit >> 3] ^= 1 << (bit & 7);
    const err = t.throws(() => decodeMeta(flipped, meta.id), { instanceOf: OfsError });
    t.is(err?.code, 'ECORRUPT');
  }
  t.throws(() => decodeMeta(bytes, '00000000deadbeee'), { message: /belongs to chunk 00000000deadbeef/ });
  t.throws(() => decodeMeta(Buffer.alloc(100, 0x41), meta.id), { message: /chunk 00000000deadbeef meta file, offset 0: bad magic/ });
});

test('a meta whose checksum count does not match its length is refused when written', (t) => {
  t.throws(() => encodeMeta({ ...meta, length: 1 }), { instanceOf: OfsError, message: /3 block checksums for length 1/ });
});
