import { crc32c } from '@node-rs/crc32';
import { OfsError } from '../core/errors.js';
import { BLOCK_SIZE, blockCount } from './block-checksums.js';

/** What a chunkserver knows about one chunk besides its bytes. */
export interface ChunkMeta {
  id: string;
  version: number;
  length: number;
  /** CRC32C of each BLOCK_SIZE block of the data; the last block may be short. */
  crcs: Uint32Array;
}

/*
 * The bytes of a chunk meta file, as pure functions (the I/O is in
 * chunk-meta-file.ts). Little-endian throughout.
 *
 * A meta frame, the unit a CRC covers:
 *
 *   0  prefix               8 bytes (see below)
 *   8  chunk id             8 bytes (the 16 hex chars as raw bytes)
 *  16  version              u64
 *  24  length               u64
 *  32  block count n        u32
 *  36  block CRC32Cs        n × u32
 *  36+4n  CRC32C of bytes [0, 36+4n)   u32
 *
 * Format 2 (written now) is updated in place, so that a sync costs one
 * pwrite and one fdatasync of the meta file rather than a temp file, its
 * fsync, a rename and a directory fsync:
 *
 *    0  magic "OFSM"        4 bytes
 *    4  format              u32 = 2
 *    8  slot stride s       u32, a multiple of 512
 *   12  CRC32C of [0, 12)   u32
 *  512  slot 0              s bytes: a frame whose prefix is its generation (u64), then zeros
 *  512+s slot 1             the same
 *
 * An update writes the slot that does not hold the newest meta, with the next
 * generation; the valid slot with the higher generation is the meta. A slot
 * is written only after the data it vouches for is durable, and the update is
 * acknowledged only once the slot is, so a slot torn by a crash was never
 * acknowledged and the other slot is what the chunk holds. Known limit: a
 * newer slot damaged after it was acknowledged (a bit the disk flips and does
 * not report) looks just like a torn one, and the older slot is taken too.
 *
 * The header and each slot start on a 512-byte sector of their own, so a
 * slot write changes no sector that holds the header or the other slot: a
 * disk that tears a write between sectors leaves those whole. The header has
 * a CRC of its own: a damaged stride would put slot 1 somewhere else, and
 * the chunk would quietly go back to slot 0.
 *
 * Format 1 (an older OFS wrote it) is one frame whose prefix is magic "OFSM"
 * and format u32 = 1, and nothing else. It still loads; its next update
 * rewrites the file as format 2.
 *
 * The CRCs make a torn or scribbled slot detectable; the id inside a frame
 * catches a meta file copied or renamed onto the wrong chunk.
 */
const MAGIC = Buffer.from('OFSM', 'latin1');
const FORMAT_SLOTS = 2;
const FORMAT_ONE_FRAME = 1;
const HEADER_BYTES = 16;
const SECTOR = 512;
const FRAME_HEADER_BYTES = 36;
const FRAME_BYTES = FRAME_HEADER_BYTES + 4;

/** Block count of a 64 GiB chunk: no meta has more checksums, so a count above it is damage. */
const MAX_BLOCKS = 2 ** 20;

/** Where a format-2 meta file holds its newest meta; the next update goes to the other slot. */
export interface NewestSlot {
  stride: number;
  index: 0 | 1;
  generation: number;
}

export interface DecodedMetaFile {
  meta: ChunkMeta;
  /** Absent for a format-1 file, which the next update rewrites as format 2. */
  newest?: NewestSlot;
  /**
   * The other slot holds bytes but no valid meta: a torn update (never
   * acknowledged) or a flipped bit in the newest meta (maybe acknowledged).
   * The two look alike, so the meta loaded may be one update behind.
   */
  otherSlotBad?: boolean;
}

/** Where a new file (encodeMetaFile) holds its meta. */
export function firstSlot(stride: number): NewestSlot {
  return { stride, index: 0, generation: 1 };
}

/** The largest chunk whose meta a meta file can hold. */
export const MAX_META_CHUNK_SIZE = MAX_BLOCKS * BLOCK_SIZE;

/** The slot stride that holds the meta of any chunk up to `chunkSize` bytes. */
export function slotStrideFor(chunkSize: number): number {
  return roundUpToSector(FRAME_BYTES + 4 * blockCount(chunkSize));
}

/** Whether `meta` fits a slot of `stride` bytes. */
export function fitsSlot(meta: ChunkMeta, stride: number): boolean {
  return FRAME_BYTES + 4 * meta.crcs.length <= stride;
}

/** Byte offset of slot `index` in a file of slots `stride` apart. */
export function slotOffset(stride: number, index: 0 | 1): number {
  return SECTOR + index * stride;
}

/** Larger than any meta file we write; bigger files are garbage, not read whole. */
export const MAX_META_FILE_BYTES = slotOffset(slotStrideFor(MAX_META_CHUNK_SIZE), 1) + slotStrideFor(MAX_META_CHUNK_SIZE);

/**
 * A new format-2 file holding `meta` in its first slot: `head`, the bytes to
 * write from offset 0 (the header and that slot's frame), and `length`, the
 * file's final size, which the writer sets. The rest (the other slot, and the
 * first past its frame) is never written: it reads as zeros, which never pass
 * a slot's CRC, and takes no disk, as a hole. The slots are sized for the
 * largest chunk (about 64 KiB each for 1 GiB): written whole, a 1 KiB
 * chunk's meta file would take 130 KiB of disk and of writes; this way, a
 * block or two. The size is final from the start, so a slot update never
 * grows the file.
 */
export function encodeMetaFile(meta: ChunkMeta, stride: number): { head: Buffer; length: number } {
  if (stride % SECTOR !== 0 || !fitsSlot(meta, stride)) {
    throw new OfsError('EINTERNAL', `chunk ${meta.id}: meta of length ${meta.length} does not fit a slot stride of ${stride}`);
  }
  const { index, generation } = firstSlot(stride);
  const slot = encodeSlot(meta, generation);
  const head = Buffer.alloc(slotOffset(stride, index) + slot.length);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(FORMAT_SLOTS, 4);
  head.writeUInt32LE(stride, 8);
  head.writeUInt32LE(crc32c(head.subarray(0, 12)), 12);
  slot.copy(head, slotOffset(stride, index));
  return { head, length: slotOffset(stride, 1) + stride };
}

/** One slot's frame: `meta` at `generation`. */
export function encodeSlot(meta: ChunkMeta, generation: number): Buffer {
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(generation));
  return encodeFrame(prefix, meta);
}

/**
 * Decodes the meta file of chunk `id`, either format; throws ECORRUPT naming
 * the byte offset and the problem.
 */
export function decodeMetaFile(bytes: Uint8Array, id: string): DecodedMetaFile {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (offset: number, problem: string): never => {
    throw new OfsError('ECORRUPT', `chunk ${id} meta file, offset ${offset}: ${problem}`);
  };
  if (buf.length < HEADER_BYTES) fail(buf.length, `file is ${buf.length} bytes, shorter than the ${HEADER_BYTES}-byte header (torn write?)`);
  if (!buf.subarray(0, 4).equals(MAGIC)) fail(0, 'bad magic, not an OFS chunk meta file');
  if (buf.readUInt32LE(4) === FORMAT_ONE_FRAME) return { meta: decodeFormatOne(buf, id, fail) };

  const stored = buf.readUInt32LE(12);
  const actual = crc32c(buf.subarray(0, 12));
  if (stored !== actual) fail(12, `header CRC32C ${stored} does not match the header (${actual})`);
  const format = buf.readUInt32LE(4);
  if (format !== FORMAT_SLOTS) fail(4, `unknown format ${format}`);
  const stride = buf.readUInt32LE(8);
  if (stride % SECTOR !== 0 || stride < FRAME_BYTES) fail(8, `slot stride ${stride} is not a positive multiple of ${SECTOR}`);

  const slots = [readSlot(buf, stride, 0, id), readSlot(buf, stride, 1, id)];
  const valid = slots.filter((slot): slot is ValidSlot => 'meta' in slot);
  if (valid.length === 0) {
    const why = (slots as BadSlot[]).map((slot) => `slot ${slot.index} at offset ${slot.offset}: ${slot.problem}`).join('; ');
    fail(slotOffset(stride, 0), `neither slot holds a valid meta (${why})`);
  }
  const newest = valid.reduce((a, b) => (b.generation > a.generation ? b : a));
  // A slot never written (a new file's second one) is all zeros: nothing was lost there.
  const other = slots[1 - newest.index]!;
  const otherStart = slotOffset(stride, other.index);
  const otherSlotBad = 'problem' in other && buf.subarray(otherStart, otherStart + stride).some((b) => b !== 0);
  return { meta: newest.meta, newest: { stride, index: newest.index, generation: newest.generation }, otherSlotBad };
}

type ValidSlot = { index: 0 | 1; meta: ChunkMeta; generation: number };
type BadSlot = { index: 0 | 1; offset: number; problem: string };

function readSlot(buf: Buffer, stride: number, index: 0 | 1, id: string): ValidSlot | BadSlot {
  const offset = slotOffset(stride, index);
  const decoded = decodeFrame(buf.subarray(offset, offset + stride), id);
  if ('problem' in decoded) return { index, offset: offset + decoded.at, problem: decoded.problem };
  const generation = Number(decoded.prefix.readBigUInt64LE(0));
  if (!Number.isSafeInteger(generation)) return { index, offset, problem: `generation ${decoded.prefix.readBigUInt64LE(0)} is out of range` };
  return { index, meta: decoded.meta, generation };
}

/** Format 1: the file is exactly one frame. */
function decodeFormatOne(buf: Buffer, id: string, fail: (offset: number, problem: string) => never): ChunkMeta {
  const decoded = decodeFrame(buf, id);
  if ('problem' in decoded) return fail(decoded.at, decoded.problem);
  const end = FRAME_BYTES + 4 * decoded.meta.crcs.length;
  if (buf.length !== end) fail(end, `file is ${buf.length} bytes but its ${decoded.meta.crcs.length} block checksums need ${end}`);
  return decoded.meta;
}

function encodeFrame(prefix: Buffer, meta: ChunkMeta): Buffer {
  const n = meta.crcs.length;
  if (n !== blockCount(meta.length)) {
    throw new OfsError(
      'EINTERNAL',
      `chunk ${meta.id}: meta has ${n} block checksums for length ${meta.length}, expected ${blockCount(meta.length)}`,
    );
  }
  const buf = Buffer.alloc(FRAME_BYTES + 4 * n);
  prefix.copy(buf, 0, 0, 8);
  buf.write(meta.id, 8, 8, 'hex');
  buf.writeBigUInt64LE(BigInt(meta.version), 16);
  buf.writeBigUInt64LE(BigInt(meta.length), 24);
  buf.writeUInt32LE(n, 32);
  for (let b = 0; b < n; b++) buf.writeUInt32LE(meta.crcs[b]!, FRAME_HEADER_BYTES + 4 * b);
  buf.writeUInt32LE(crc32c(buf.subarray(0, FRAME_HEADER_BYTES + 4 * n)), FRAME_HEADER_BYTES + 4 * n);
  return buf;
}

/**
 * Decodes the frame at the start of `buf` (bytes after it are not looked at);
 * a problem names the offset in `buf` where it lies.
 */
function decodeFrame(buf: Buffer, id: string): { meta: ChunkMeta; prefix: Buffer } | { at: number; problem: string } {
  const problem = (at: number, what: string) => ({ at, problem: what });
  if (buf.length < FRAME_BYTES) return problem(buf.length, `${buf.length} bytes, shorter than the ${FRAME_BYTES}-byte minimum (torn write?)`);
  const n = buf.readUInt32LE(32);
  if (n > MAX_BLOCKS) return problem(32, `${n} block checksums, more than any chunk has (${MAX_BLOCKS})`);
  const frameEnd = FRAME_HEADER_BYTES + 4 * n;
  if (buf.length < frameEnd + 4) return problem(buf.length, `${buf.length} bytes but its ${n} block checksums need ${frameEnd + 4} (torn write?)`);
  const stored = buf.readUInt32LE(frameEnd);
  const actual = crc32c(buf.subarray(0, frameEnd));
  if (stored !== actual) return problem(frameEnd, `frame CRC32C ${stored} does not match the contents (${actual})`);
  const storedId = buf.toString('hex', 8, 16);
  if (storedId !== id) return problem(8, `frame belongs to chunk ${storedId}`);
  const version = Number(buf.readBigUInt64LE(16));
  if (!Number.isSafeInteger(version)) return problem(16, `version ${buf.readBigUInt64LE(16)} is out of range`);
  const length = Number(buf.readBigUInt64LE(24));
  if (!Number.isSafeInteger(length)) return problem(24, `length ${buf.readBigUInt64LE(24)} is out of range`);
  if (n !== blockCount(length)) return problem(32, `${n} block checksums for length ${length}, expected ${blockCount(length)}`);
  const crcs = new Uint32Array(n);
  for (let b = 0; b < n; b++) crcs[b] = buf.readUInt32LE(FRAME_HEADER_BYTES + 4 * b);
  return { meta: { id, version, length, crcs }, prefix: buf.subarray(0, 8) };
}

function roundUpToSector(bytes: number): number {
  return Math.ceil(bytes / SECTOR) * SECTOR;
}
