/**
 * Checkpoints of the master's state (GFS 2.7: "the master checkpoints its state
 * whenever the log grows beyond a certain size"): start-up loads the newest
 * valid checkpoint and replays only the journal after its seq, and the journal
 * segments it covers can be deleted.
 *
 * File: `<dir>/checkpoints/checkpoint-<seq, 20 digits>.ckpt`: the state as a
 * sequence of pieces (a namespace's, see namespace-snapshot.ts), each framed
 * and checksummed on its own, so that neither writing nor loading ever holds
 * the whole state as one string, and a truncated or damaged file is
 * recognised rather than half-loaded:
 *
 *     file  := "OFSCKPT2" frame({"seq": <seq>}) frame(piece)* frame({"end": <pieces>})
 *     frame := [u32 LE payload length][u32 LE crc32c(payload)][payload: UTF-8 JSON]
 *
 * The seq is inside a checksummed frame as well as in the name, so a file
 * renamed by hand cannot claim to cover records it does not. Files an older
 * OFS wrote ("OFSCKPT1": one header, one JSON payload) still load, as one piece.
 *
 * Written atomically (temp file, fsync, rename, fsync directory): a crash leaves
 * either the old set of checkpoints or the new one, never a half-written file
 * under a checkpoint's name. The newest two are kept, so that one damaged file
 * still leaves a checkpoint to start from; the journal must therefore keep the
 * records after the *older* of the two (see `removeSegmentsBefore`).
 */
import { crc32c } from '@node-rs/crc32';
import { mkdir, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { OfsError } from '../core/errors.js';
import { syncDirectory, tempPathFor, writeFileDurably } from './durable-file.js';

const MAGIC = Buffer.from('OFSCKPT2', 'ascii');
const FRAME_HEADER_BYTES = 8;
/** A frame claiming more than this is damage, not a piece: pieces are bounded far below it. */
const MAX_FRAME_BYTES = 256 * 1024 * 1024;
const LEGACY_MAGIC = Buffer.from('OFSCKPT1', 'ascii');
const LEGACY_HEADER_BYTES = LEGACY_MAGIC.length + 8 + 4;
const NAME = /^checkpoint-(\d{20})\.ckpt$/;
const TEMP = /^checkpoint-\d{20}\.ckpt\.tmp-/;
export const CHECKPOINTS_KEPT = 2;

export type Checkpoint<S> = { seq: number; state: S; path: string };

/** Makes the state from a checkpoint's pieces; it must read them all (the last check, for truncation, runs at their end). */
export type CheckpointLoader<S> = (pieces: AsyncIterable<unknown>) => Promise<S>;

export type CheckpointOptions = {
  /** Where skipped (damaged) checkpoints are reported. Default: console.warn. */
  log?: (msg: string) => void;
};

export function checkpointFileName(seq: number): string {
  return `checkpoint-${String(seq).padStart(20, '0')}.ckpt`;
}

function frame(value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value), 'utf8');
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(crc32c(payload), 4);
  return Buffer.concat([header, payload]);
}

/** Pure: the bytes of a checkpoint file, one buffer at a time. */
export function* checkpointBytes(seq: number, pieces: Iterable<unknown>): Generator<Buffer> {
  assertSeq(seq);
  yield MAGIC;
  yield frame({ seq });
  let count = 0;
  for (const piece of pieces) {
    yield frame(piece);
    count++;
  }
  yield frame({ end: count });
}

/** Pure: a whole checkpoint file's bytes (tests; small states). */
export function encodeCheckpoint(seq: number, pieces: Iterable<unknown>): Buffer {
  return Buffer.concat([...checkpointBytes(seq, pieces)]);
}

/** Reads exactly `length` bytes at `position`, or throws ECORRUPT naming what was cut short. */
type ReadAt = (length: number, position: number) => Promise<Buffer>;

/**
 * The pieces of a checkpoint, checked frame by frame; throws ECORRUPT
 * saying what is wrong (only once reached: a consumer must read to the end).
 */
async function* readPieces(readAt: ReadAt, size: number, expectSeq: (seq: number) => void): AsyncGenerator<unknown> {
  if (size < MAGIC.length) throw new OfsError('ECORRUPT', `checkpoint is ${size} bytes, shorter than its magic`);
  const magic = await readAt(MAGIC.length, 0);
  if (magic.equals(LEGACY_MAGIC)) {
    const legacy = decodeLegacy(await readAt(size, 0));
    expectSeq(legacy.seq);
    yield legacy.state;
    return;
  }
  if (!magic.equals(MAGIC)) throw new OfsError('ECORRUPT', 'checkpoint does not start with the OFSCKPT2 magic');
  let position = MAGIC.length;
  const next = async (): Promise<unknown> => {
    if (position + FRAME_HEADER_BYTES > size) throw new OfsError('ECORRUPT', `checkpoint truncated: it ends inside a frame header at byte ${position}`);
    const header = await readAt(FRAME_HEADER_BYTES, position);
    const length = header.readUInt32LE(0);
    if (length > MAX_FRAME_BYTES || position + FRAME_HEADER_BYTES + length > size) {
      throw new OfsError('ECORRUPT', `checkpoint truncated or damaged: a frame at byte ${position} claims ${length} bytes`);
    }
    const payload = await readAt(length, position + FRAME_HEADER_BYTES);
    const stored = header.readUInt32LE(4);
    const actual = crc32c(payload);
    if (stored !== actual) throw new OfsError('ECORRUPT', `checkpoint crc32c mismatch in the frame at byte ${position}: stored ${stored}, computed ${actual}`);
    position += FRAME_HEADER_BYTES + length;
    try {
      return JSON.parse(payload.toString('utf8'));
    } catch (err) {
      throw new OfsError('ECORRUPT', `checkpoint frame at byte ${position} passes its CRC but is not JSON: ${(err as Error).message}`);
    }
  };
  const first = (await next()) as { seq?: unknown } | null;
  if (!Number.isSafeInteger(first?.seq)) throw new OfsError('ECORRUPT', 'checkpoint has no integer seq');
  expectSeq(first!.seq as number);
  for (let count = 0; ; count++) {
    const piece = await next();
    const end = (piece as { end?: unknown } | null)?.end;
    if (typeof end === 'number' && Object.keys(piece as object).length === 1) {
      if (end !== count) throw new OfsError('ECORRUPT', `checkpoint ends after ${count} pieces but says it holds ${end}`);
      if (position !== size) throw new OfsError('ECORRUPT', `checkpoint has ${size - position} bytes after its end frame`);
      return;
    }
    yield piece;
  }
}

/** Pure: parses a checkpoint file's bytes, or throws ECORRUPT saying what is wrong. */
export async function decodeCheckpoint(bytes: Buffer): Promise<{ seq: number; pieces: unknown[] }> {
  let seq = -1;
  const pieces: unknown[] = [];
  const readAt: ReadAt = async (length, position) => bytes.subarray(position, position + length);
  for await (const piece of readPieces(readAt, bytes.length, (s) => (seq = s))) pieces.push(piece);
  return { seq, pieces };
}

/** An OFSCKPT1 file: [magic][u64 LE payload length][u32 LE crc32c][JSON {"seq", "state"}]. */
function decodeLegacy(bytes: Buffer): { seq: number; state: unknown } {
  if (bytes.length < LEGACY_HEADER_BYTES) {
    throw new OfsError('ECORRUPT', `checkpoint is ${bytes.length} bytes, shorter than its ${LEGACY_HEADER_BYTES}-byte header`);
  }
  const length = bytes.readBigUInt64LE(LEGACY_MAGIC.length);
  if (length !== BigInt(bytes.length - LEGACY_HEADER_BYTES)) {
    throw new OfsError('ECORRUPT', `checkpoint header says ${length} payload bytes, file holds ${bytes.length - LEGACY_HEADER_BYTES} (truncated or extended)`);
  }
  const payload = bytes.subarray(LEGACY_HEADER_BYTES);
  const stored = bytes.readUInt32LE(LEGACY_MAGIC.length + 8);
  const actual = crc32c(payload);
  if (stored !== actual) throw new OfsError('ECORRUPT', `checkpoint crc32c mismatch: stored ${stored}, computed ${actual}`);
  let value: { seq?: unknown; state?: unknown };
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new OfsError('ECORRUPT', `checkpoint passes its CRC but is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || !Number.isSafeInteger(value.seq)) {
    throw new OfsError('ECORRUPT', 'checkpoint payload has no integer seq');
  }
  return { seq: value.seq as number, state: value.state };
}

/** Per-directory queue: two overlapping writes must not delete each other's temp files. */
const writing = new Map<string, Promise<unknown>>();

/**
 * Durably writes the checkpoint for `seq` and returns its path; then deletes
 * all but the newest CHECKPOINTS_KEPT checkpoints and any leftover temp files.
 * A seq below the newest existing checkpoint is refused (EINVAL): checkpoints,
 * like the journal, never go backwards.
 */
export function writeCheckpoint(dir: string, seq: number, pieces: Iterable<unknown>): Promise<string> {
  const previous = writing.get(dir) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(() => writeNow(dir, seq, pieces));
  writing.set(dir, next);
  void next.finally(() => {
    if (writing.get(dir) === next) writing.delete(dir);
  }).catch(() => undefined);
  return next;
}

async function writeNow(dir: string, seq: number, pieces: Iterable<unknown>): Promise<string> {
  assertSeq(seq);
  const checkpointDir = join(dir, 'checkpoints');
  if ((await mkdir(checkpointDir, { recursive: true })) !== undefined) {
    await syncDirectory(checkpointDir);
    await syncDirectory(dir);
  }
  const newest = (await listCheckpoints(checkpointDir))[0];
  if (newest && newest.seq > seq) {
    throw new OfsError('EINVAL', `checkpoint seq ${seq} is below the newest existing checkpoint ${newest.seq}`);
  }
  const finalPath = join(checkpointDir, checkpointFileName(seq));
  await writeFileDurably(finalPath, checkpointBytes(seq, pieces), tempPathFor(finalPath));

  // Retention by seq alone: the file just written is the newest and valid, so
  // at least one good checkpoint always survives the pruning.
  const names = await readdir(checkpointDir);
  const doomed = [
    ...(await listCheckpoints(checkpointDir)).slice(CHECKPOINTS_KEPT).map((c) => c.path),
    ...names.filter((n) => TEMP.test(n)).map((n) => join(checkpointDir, n)),
  ];
  for (const path of doomed) await unlink(path).catch(() => undefined);
  if (doomed.length > 0) await syncDirectory(checkpointDir);
  return finalPath;
}

/**
 * The newest checkpoint that verifies, or undefined if there is none. A damaged
 * or truncated newer file is skipped with a log line, falling back to the next.
 */
export async function loadNewestCheckpoint<S>(dir: string, load: CheckpointLoader<S>, opts: CheckpointOptions = {}): Promise<Checkpoint<S> | undefined> {
  const log = opts.log ?? ((msg: string) => console.warn(msg));
  const checkpointDir = join(dir, 'checkpoints');
  let candidates: { seq: number; path: string }[];
  try {
    candidates = await listCheckpoints(checkpointDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  for (const { seq, path } of candidates) {
    try {
      const state = await readCheckpointFile(path, seq, load);
      return { seq, state, path };
    } catch (err) {
      if (!(err instanceof OfsError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      log(`checkpoint: skipping ${path}: ${(err as Error).message}; falling back to an older checkpoint`);
    }
  }
  return undefined;
}

async function readCheckpointFile<S>(path: string, seq: number, load: CheckpointLoader<S>): Promise<S> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const readAt: ReadAt = async (length, position) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      if (bytesRead !== length) throw new OfsError('ECORRUPT', `checkpoint ${path} changed while it was read`);
      return buffer;
    };
    const expectSeq = (found: number) => {
      if (found !== seq) throw new OfsError('ECORRUPT', `checkpoint payload says seq ${found}, its name says ${seq}`);
    };
    return await load(readPieces(readAt, size, expectSeq));
  } finally {
    await handle.close();
  }
}

/** Checkpoint files in `checkpointDir`, newest first. */
async function listCheckpoints(checkpointDir: string): Promise<{ seq: number; path: string }[]> {
  return (await readdir(checkpointDir))
    .map((name) => ({ match: NAME.exec(name), name }))
    .filter((c): c is { match: RegExpExecArray; name: string } => c.match !== null)
    .map(({ match, name }) => ({ seq: Number(match[1]), path: join(checkpointDir, name) }))
    .sort((a, b) => b.seq - a.seq);
}

function assertSeq(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new OfsError('EINVAL', `checkpoint seq ${seq} is not a non-negative integer`);
  }
}
