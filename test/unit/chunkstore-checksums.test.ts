import { crc32c } from '@node-rs/crc32';
import test from 'ava';
import fc from 'fast-check';
import {
  BLOCK_SIZE,
  blockCount,
  checksumBlocks,
  checksumsAfterWrite,
  edgeBlocksToVerify,
} from '../../src/storage/block-checksums.js';

const B = BLOCK_SIZE;

test('checksumBlocks: one CRC32C per block, the last one short', (t) => {
  const bytes = Buffer.alloc(2 * B + 5, 7);
  const crcs = checksumBlocks(bytes);
  t.deepEqual([...crcs], [crc32c(bytes.subarray(0, B)), crc32c(bytes.subarray(B, 2 * B)), crc32c(bytes.subarray(2 * B))]);
  t.is(checksumBlocks(Buffer.alloc(0)).length, 0);
  t.is(blockCount(B), 1);
  t.is(blockCount(B + 1), 2);
});

const edgeCases: [oldLength: number, offset: number, size: number, blocks: number[]][] = [
  [0, 0, 10, []], // first write
  [10, 10, 10, []], // append inside the last block: CRC extended, nothing read
  [B, B, 10, []], // append on a block boundary
  [3 * B, B, B, []], // whole-block overwrite
  [3 * B, B + 1, 10, [1]], // inside one block: read once
  [3 * B, B, 10, [1]], // aligned start, partial end
  [3 * B, B + 1, B, [1, 2]], // straddles two blocks
  [B + 100, B + 50, 100, [1]], // overwrites the tail and grows the chunk
  [B + 100, 50, B + 50, [0]], // ends exactly at the old end: the last block needs no tail
  [3 * B, 0, 0, []], // empty write
];
for (const [oldLength, offset, size, blocks] of edgeCases) {
  test(`edgeBlocksToVerify(${oldLength}, ${offset}, ${size}) = [${blocks}]`, (t) => {
    t.deepEqual(edgeBlocksToVerify(oldLength, offset, size), blocks);
  });
}

test('checksumsAfterWrite equals checksumming the whole chunk after the write', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 4 * B }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 0, max: 3 * B }),
      fc.nat(255),
      (oldLength, at, size, fill) => {
        const old = Buffer.alloc(oldLength);
        for (let i = 0; i < oldLength; i++) old[i] = (i * 31) & 0xff;
        const offset = Math.floor(at * oldLength);
        const data = Buffer.alloc(size, fill);
        const after = Buffer.alloc(Math.max(oldLength, offset + size));
        old.copy(after);
        data.copy(after, offset);
        const needed = new Set(edgeBlocksToVerify(oldLength, offset, size));
        const crcs = checksumsAfterWrite(checksumBlocks(old), oldLength, offset, data, (b) => {
          if (!needed.has(b)) throw new Error(`asked for block ${b}, not an edge block`);
          return old.subarray(b * B, Math.min((b + 1) * B, oldLength));
        });
        return Buffer.from(crcs.buffer).equals(Buffer.from(checksumBlocks(after).buffer));
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});
