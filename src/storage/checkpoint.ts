/**
 * Checkpoints of the master's state (GFS 2.7: "the master checkpoints its state
 * whenever the log grows beyond a certain size"): start-up loads the newest
 * valid checkpoint and replays only the journal after its seq, and the journal
 * segments it covers can be deleted.
 *
 * File: `<dir>/checkpoints/checkpoint-<seq, 20 digits>.ckpt`, framed so that a
 * truncated or damaged file is recognised rather than half-loaded:
 *
 *     [8 bytes "OFSCKPT1"][u64 LE payload length][u32 LE crc32c(payload)][payload]
 *     payload := UTF-8 JSON {"seq": <seq>, "state": <state>}
 *
 * The seq is inside the checksummed payload as well as in the name, so a file
 * renamed by hand cannot claim to cover records it does not.
 *
 * Written atomically (temp file, fsync, rename, fsync directory): a crash leaves
 * either the old set of checkpoints or the new one, never a half-written file
 * under a checkpoint's name. The newest two are kept, so that one damaged file
 * still leaves a checkpoint to start from; the journal must therefore keep the
 * records after the *older* of the two (see `removeSegmentsBefore`).
 */
import { crc32c } from '@node-rs/crc32';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { OfsError } from '../core/errors.js';
import { syncDirectory, tempPathFor, writeFileDurably } from './durable-file.js';

const MAGIC = Buffer.from('OFSCKPT1', 'ascii');
const HEADER_BYTES = MAGIC.length + 8 + 4;
const NAME = /^checkpoint-(\d{20})\.ckpt$/;
const TEMP = /^checkpoint-\d{20}\.ckpt\.tmp-/;
export const CHECKPOINTS_KEPT = 2;

export type Checkpoint<S = unknown> = { seq: number; state: S; path: string };

export type CheckpointOptions = {
  /** Where skipped (damaged) checkpoints are reported. Default: console.warn. */
  log?: (msg: string) => void;
};

export function checkpointFileName(seq: number): string {
  return `checkpoint-${String(seq).padStart(20, '0')}.ckpt`;
}

/** Pure: the bytes of a checkpoint file. */
export function encodeCheckpoint(seq: number, state: unknown): Buffer {
  assertSeq(seq);
  const payload = Buffer.from(JSON.stringify({ seq, state }), 'utf8');
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeBigUInt64LE(BigInt(payload.length), MAGIC.length);
  header.writeUInt32LE(crc32c(payload), MAGIC.length + 8);
  return Buffer.concat([header, payload]);
}

/** Pure: parses a checkpoint file's bytes, or throws ECORRUPT saying what is wrong. */
export function decodeCheckpoint<S = unknown>(bytes: Buffer): { seq: number; state: S } {
  if (bytes.length < HEADER_BYTES) {
    throw new OfsError('ECORRUPT', `checkpoint is ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  }
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new OfsError('ECORRUPT', 'checkpoint does not start with the OFSCKPT1 magic');
  }
  const length = bytes.readBigUInt64LE(MAGIC.length);
  if (length !== BigInt(bytes.length - HEADER_BYTES)) {
    throw new OfsError(
      'ECORRUPT',
      `checkpoint header says ${length} payload bytes, file holds ${bytes.length - HEADER_BYTES} (truncated or extended)`,
    );
  }
  const payload = bytes.subarray(HEADER_BYTES);
  const stored = bytes.readUInt32LE(MAGIC.length + 8);
  const actual = crc32c(payload);
  if (stored !== actual) {
    throw new OfsError('ECORRUPT', `checkpoint crc32c mismatch: stored ${stored}, computed ${actual}`);
  }
  let value: { seq?: unknown; state?: unknown };
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new OfsError('ECORRUPT', `checkpoint passes its CRC but is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || !Number.isSafeInteger(value.seq)) {
    throw new OfsError('ECORRUPT', 'checkpoint payload has no integer seq');
  }
  return { seq: value.seq as number, state: value.state as S };
}

/** Per-directory queue: two overlapping writes must not delete each other's temp files. */
const writing = new Map<string, Promise<unknown>>();

/**
 * Durably writes the checkpoint for `seq` and returns its path; then deletes
 * all but the newest CHECKPOINTS_KEPT checkpoints and any leftover temp files.
 * A seq below the newest existing checkpoint is refused (EINVAL): checkpoints,
 * like the journal, never go backwards.
 */
export function writeCheckpoint(dir: string, seq: number, state: unknown): Promise<string> {
  const previous = writing.get(dir) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(() => writeNow(dir, seq, state));
  writing.set(dir, next);
  void next.finally(() => {
    if (writing.get(dir) === next) writing.delete(dir);
  }).catch(() => undefined);
  return next;
}

async function writeNow(dir: string, seq: number, state: unknown): Promise<string> {
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
  const bytes = encodeCheckpoint(seq, state);
  const finalPath = join(checkpointDir, checkpointFileName(seq));
  await writeFileDurably(finalPath, bytes, tempPathFor(finalPath));

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
export async function loadNewestCheckpoint<S = unknown>(
  dir: string,
  opts: CheckpointOptions = {},
): Promise<Checkpoint<S> | undefined> {
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
      const decoded = decodeCheckpoint<S>(await readFile(path));
      if (decoded.seq !== seq) {
        throw new OfsError('ECORRUPT', `checkpoint payload says seq ${decoded.seq}, its name says ${seq}`);
      }
      return { seq, state: decoded.state, path };
    } catch (err) {
      if (!(err instanceof OfsError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      log(`checkpoint: skipping ${path}: ${(err as Error).message}; falling back to an older checkpoint`);
    }
  }
  return undefined;
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
