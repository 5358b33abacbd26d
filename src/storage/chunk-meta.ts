import { promises as fs } from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import { OfsError } from '../core/errors.js';
import { blockCount } from './block-checksums.js';
import type { ChunkPaths } from './chunk-files.js';
import { writeFileDurably } from './durable-file.js';

/** What a chunkserver knows about one chunk besides its bytes. */
export interface ChunkMeta {
  id: string;
  version: number;
  length: number;
  /** CRC32C of each BLOCK_SIZE block of the data; the last block may be short. */
  crcs: Uint32Array;
}

/*
 * Binary layout, little-endian; one frame per file:
 *
 *   0  magic "OFSM"         4 bytes
 *   4  format               u32 = 1
 *   8  chunk id             8 bytes (the 16 hex chars as raw bytes)
 *  16  version              u64
 *  24  length               u64
 *  32  block count n        u32
 *  36  block CRC32Cs        n × u32
 *  36+4n  CRC32C of bytes [0, 36+4n)   u32
 *
 * The trailing CRC makes a torn or scribbled meta file detectable; the id inside
 * it catches a meta file copied or renamed onto the wrong chunk.
 */
const MAGIC = Buffer.from('OFSM', 'latin1');
const FORMAT = 1;
const HEADER_BYTES = 36;
const FRAME_BYTES = HEADER_BYTES + 4;

/** Larger than the meta of any chunk up to 64 GiB; bigger files are garbage, not read whole. */
export const MAX_META_BYTES = FRAME_BYTES + 4 * 2 ** 20;

export function encodeMeta(meta: ChunkMeta): Buffer {
  const n = meta.crcs.length;
  if (n !== blockCount(meta.length)) {
    throw new OfsError(
      'EINTERNAL',
      `chunk ${meta.id}: meta has ${n} block checksums for length ${meta.length}, expected ${blockCount(meta.length)}`,
    );
  }
  const buf = Buffer.alloc(FRAME_BYTES + 4 * n);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(FORMAT, 4);
  buf.write(meta.id, 8, 8, 'hex');
  buf.writeBigUInt64LE(BigInt(meta.version), 16);
  buf.writeBigUInt64LE(BigInt(meta.length), 24);
  buf.writeUInt32LE(n, 32);
  for (let b = 0; b < n; b++) buf.writeUInt32LE(meta.crcs[b]!, HEADER_BYTES + 4 * b);
  buf.writeUInt32LE(crc32c(buf.subarray(0, HEADER_BYTES + 4 * n)), HEADER_BYTES + 4 * n);
  return buf;
}

/** Decodes the meta file of chunk `id`; throws ECORRUPT naming the byte offset and the problem. */
export function decodeMeta(bytes: Uint8Array, id: string): ChunkMeta {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (offset: number, problem: string): never => {
    throw new OfsError('ECORRUPT', `chunk ${id} meta file, offset ${offset}: ${problem}`);
  };
  if (buf.length < FRAME_BYTES) fail(buf.length, `file is ${buf.length} bytes, shorter than the ${FRAME_BYTES}-byte minimum (torn write?)`);
  if (!buf.subarray(0, 4).equals(MAGIC)) fail(0, 'bad magic, not an OFS chunk meta file');
  const n = buf.readUInt32LE(32);
  const frameEnd = HEADER_BYTES + 4 * n;
  if (buf.length !== frameEnd + 4) fail(Math.min(buf.length, frameEnd), `file is ${buf.length} bytes but its ${n} block checksums need ${frameEnd + 4} (torn write?)`);
  const stored = buf.readUInt32LE(frameEnd);
  const actual = crc32c(buf.subarray(0, frameEnd));
  if (stored !== actual) fail(frameEnd, `frame CRC32C ${stored} does not match the contents (${actual})`);
  const format = buf.readUInt32LE(4);
  if (format !== FORMAT) fail(4, `unknown format ${format}`);
  const storedId = buf.toString('hex', 8, 16);
  if (storedId !== id) fail(8, `file belongs to chunk ${storedId}`);
  const version = Number(buf.readBigUInt64LE(16));
  if (!Number.isSafeInteger(version)) fail(16, `version ${buf.readBigUInt64LE(16)} is out of range`);
  const length = Number(buf.readBigUInt64LE(24));
  if (!Number.isSafeInteger(length)) fail(24, `length ${buf.readBigUInt64LE(24)} is out of range`);
  if (n !== blockCount(length)) fail(32, `${n} block checksums for length ${length}, expected ${blockCount(length)}`);
  const crcs = new Uint32Array(n);
  for (let b = 0; b < n; b++) crcs[b] = buf.readUInt32LE(HEADER_BYTES + 4 * b);
  return { id, version, length, crcs };
}

export async function readMeta(paths: ChunkPaths, id: string): Promise<ChunkMeta> {
  const fh = await fs.open(paths.meta, 'r');
  try {
    const { size } = await fh.stat();
    if (size > MAX_META_BYTES) {
      throw new OfsError('ECORRUPT', `chunk ${id} meta file, offset 0: file is ${size} bytes, larger than any meta (${MAX_META_BYTES})`);
    }
    return decodeMeta(await fh.readFile(), id);
  } finally {
    await fh.close();
  }
}

/**
 * Replaces the meta file so that after a crash it holds either the old meta or
 * the new one, never a mix: write a temp file, fsync it, rename it over, fsync
 * the directory so the rename itself survives.
 */
export async function writeMetaDurably(paths: ChunkPaths, meta: ChunkMeta): Promise<void> {
  await writeFileDurably(paths.meta, encodeMeta(meta), paths.metaTemp);
}
