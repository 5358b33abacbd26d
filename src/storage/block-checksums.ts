import { crc32c } from '@node-rs/crc32';
import { OfsError } from '../core/errors.js';

/**
 * Checksum granularity (GFS §5.2: 64 KB blocks, each with a 32-bit checksum).
 * Small enough that verifying a read costs little beyond the bytes asked for,
 * large enough that the checksums of a 64 MiB chunk fit in 4 KiB.
 */
export const BLOCK_SIZE = 65536;

export function blockCount(length: number): number {
  return Math.ceil(length / BLOCK_SIZE);
}

/** Bytes [start, end) of block `block` in a chunk of `length` bytes. */
export function blockBounds(block: number, length: number): { start: number; end: number } {
  const start = block * BLOCK_SIZE;
  return { start, end: Math.min(start + BLOCK_SIZE, length) };
}

/** First and last block holding bytes [start, end); the range must not be empty. */
export function blocksCovering(start: number, end: number): { first: number; last: number } {
  return { first: Math.floor(start / BLOCK_SIZE), last: Math.floor((end - 1) / BLOCK_SIZE) };
}

/** CRC32C of each block of `bytes`, which start on a block boundary. */
export function checksumBlocks(bytes: Uint8Array): Uint32Array {
  const crcs = new Uint32Array(blockCount(bytes.length));
  for (let b = 0; b < crcs.length; b++) {
    crcs[b] = crc32c(bytes.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE));
  }
  return crcs;
}

/**
 * Blocks whose old bytes a write of `dataLength` bytes at `offset` must read and
 * verify before writing: the blocks it overwrites only partly. Their untouched
 * bytes go into the new checksum, and if they were already corrupt a fresh
 * checksum would hide that (GFS §5.2). An append that starts inside the last
 * block needs no read: its checksum is extended from the old one instead.
 */
export function edgeBlocksToVerify(oldLength: number, offset: number, dataLength: number): number[] {
  if (dataLength === 0) return [];
  const end = offset + dataLength;
  const { first, last } = blocksCovering(offset, end);
  const blocks: number[] = [];
  if (offset < oldLength && offset % BLOCK_SIZE !== 0) blocks.push(first);
  const lastEnd = Math.min((last + 1) * BLOCK_SIZE, oldLength);
  if (end < lastEnd && (blocks.length === 0 || last !== first)) blocks.push(last);
  return blocks;
}

/**
 * The chunk's checksums after writing `data` at `offset` (0 <= offset <= oldLength).
 * `oldBlock(b)` returns the verified old bytes of block b for each block named by
 * edgeBlocksToVerify. Pure: the caller does the I/O.
 */
export function checksumsAfterWrite(
  oldCrcs: Uint32Array,
  oldLength: number,
  offset: number,
  data: Uint8Array,
  oldBlock: (block: number) => Uint8Array,
): Uint32Array {
  const end = offset + data.length;
  const newLength = Math.max(oldLength, end);
  const crcs = new Uint32Array(blockCount(newLength));
  crcs.set(oldCrcs.subarray(0, Math.min(oldCrcs.length, crcs.length)));
  if (data.length === 0) return crcs;

  const { first, last } = blocksCovering(offset, end);
  for (let b = first; b <= last; b++) {
    const { start, end: blockEnd } = blockBounds(b, newLength);
    let crc = 0;
    if (start < offset) {
      if (offset === oldLength) {
        // Append inside a partial block: the old checksum covers exactly [start, offset).
        crc = oldCrcs[b]!;
      } else {
        crc = crc32c(edge(oldBlock, b, oldLength).subarray(0, offset - start));
      }
    }
    crc = crc32c(data.subarray(Math.max(start, offset) - offset, Math.min(blockEnd, end) - offset), crc);
    if (blockEnd > end) {
      crc = crc32c(edge(oldBlock, b, oldLength).subarray(end - start, blockEnd - start), crc);
    }
    crcs[b] = crc;
  }
  return crcs;
}

function edge(oldBlock: (block: number) => Uint8Array, block: number, oldLength: number): Uint8Array {
  const bytes = oldBlock(block);
  const { start, end } = blockBounds(block, oldLength);
  if (bytes.length !== end - start) {
    throw new OfsError(
      'EINTERNAL',
      `block ${block} (bytes ${start}-${end - 1}): edge block has ${bytes.length} bytes, expected ${end - start}`,
    );
  }
  return bytes;
}
