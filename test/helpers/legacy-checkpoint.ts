import { crc32c } from '@node-rs/crc32';

/** A checkpoint file as OFS wrote it before pieces (OFSCKPT1): [magic][u64 LE length][u32 LE crc32c][JSON {seq, state}]. */
export function legacyCheckpointBytes(seq: number, state: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify({ seq, state }));
  const header = Buffer.alloc(20);
  header.write('OFSCKPT1', 0, 'ascii');
  header.writeBigUInt64LE(BigInt(payload.length), 8);
  header.writeUInt32LE(crc32c(payload), 16);
  return Buffer.concat([header, payload]);
}
