import { crc32c } from '@node-rs/crc32';
import type { ChunkMeta } from '../../src/storage/chunk-meta.js';

/**
 * A chunk meta file as OFS wrote it before slots (format 1), built byte by
 * byte here so the decoder is checked against the layout itself: magic "OFSM",
 * u32 LE 1, the id's 8 bytes, u64 LE version, u64 LE length, u32 LE block
 * count, the block CRC32Cs, and a CRC32C of all that.
 */
export function formatOneMetaBytes(meta: ChunkMeta): Buffer {
  const n = meta.crcs.length;
  const buf = Buffer.alloc(40 + 4 * n);
  buf.write('OFSM', 0, 'latin1');
  buf.writeUInt32LE(1, 4);
  buf.write(meta.id, 8, 8, 'hex');
  buf.writeBigUInt64LE(BigInt(meta.version), 16);
  buf.writeBigUInt64LE(BigInt(meta.length), 24);
  buf.writeUInt32LE(n, 32);
  meta.crcs.forEach((crc, b) => buf.writeUInt32LE(crc, 36 + 4 * b));
  buf.writeUInt32LE(crc32c(buf.subarray(0, 36 + 4 * n)), 36 + 4 * n);
  return buf;
}
