/**
 * The journal's on-disk framing, as pure functions on bytes (after etcd's
 * `wal/encoder.go` + `wal/decoder.go`): no files, no clocks, testable on buffers.
 *
 *     record := [u32 LE length][u32 LE crc32c(payload)][payload: length bytes]
 *
 * The decoder never guesses silently. It returns the records it could verify,
 * the offset where verified bytes end (`validEnd`), and, if it stopped early,
 * why: a `torn` tail (safe to cut: it can only be the write that was in flight
 * when the process or machine died) or `corrupt` bytes (not safe to cut: records
 * that were acknowledged may lie beyond them).
 */
import { crc32c } from '@node-rs/crc32';
import { OfsError } from '../core/errors.js';

export const RECORD_HEADER_BYTES = 8;

/**
 * No record is larger than this. A length field above it cannot be a record we
 * wrote, so it is damage, and the decoder says so instead of trying to read
 * 4 GiB. (The master's events are small; a batch is many records, not one.)
 */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export type DecodeProblem = {
  /** `torn`: an unfinished last write, safe to cut at `offset`. `corrupt`: damage with data after it. */
  kind: 'torn' | 'corrupt';
  /** Byte offset (in the whole buffer) of the record that could not be read. */
  offset: number;
  detail: string;
};

export type DecodeResult = {
  /** Payloads of the verified records, in order (views into the input buffer). */
  records: Buffer[];
  /** Start offset of each record's header, parallel to `records`. */
  offsets: number[];
  /** End of the last verified record (== startOffset if none): where a repair truncates to. */
  validEnd: number;
  /** Absent when every byte from startOffset to the end decoded cleanly. */
  problem?: DecodeProblem;
};

/**
 * Frames one payload. Empty payloads are refused: an all-zero header would
 * otherwise be a valid empty record, and zeros are exactly what a crash leaves
 * behind when a file's size reached the disk before its data did. Forbidding
 * length 0 lets the decoder recognise such a zero-filled tail as torn.
 */
export function encodeRecord(payload: Buffer): Buffer {
  if (payload.length === 0) {
    throw new OfsError('EINVAL', 'journal record payload is empty (length 0 is reserved as invalid)');
  }
  if (payload.length > MAX_RECORD_BYTES) {
    throw new OfsError(
      'EINVAL',
      `journal record payload is ${payload.length} bytes, over the ${MAX_RECORD_BYTES}-byte limit`,
    );
  }
  const frame = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32c(payload), 4);
  payload.copy(frame, RECORD_HEADER_BYTES);
  return frame;
}

/** Frames many payloads into one buffer: one write, one fsync (group commit). */
export function encodeRecords(payloads: readonly Buffer[]): Buffer {
  return Buffer.concat(payloads.map(encodeRecord));
}

/**
 * Reads records from `startOffset` until the end of `buf` or the first record
 * that fails. How a failure is classified, and why:
 *
 * 1. Fewer than 8 header bytes left, or a sane length whose payload runs past
 *    the end: the record was cut off mid-write → `torn`.
 *
 * 2. A complete record whose CRC does not match, or a header whose length is 0
 *    or over MAX_RECORD_BYTES:
 *    - if nothing but zero bytes follows it (in particular: it ends exactly at
 *      the end of the file) → `torn`;
 *    - otherwise → `corrupt`.
 *
 * Why a bad CRC on the last record counts as torn: the journal only appends,
 * and an append is acknowledged only after fdatasync returns. A crash during
 * the last, unacknowledged write can leave its length on disk without all of
 * its payload: the file size (metadata) and the data pages reach the disk
 * separately and in any order, so the tail can hold zeros, stale blocks, or a
 * partly written page. Such a record is complete in length but fails its CRC,
 * and it is by construction the last thing in the file. Cutting it loses only
 * a write no caller was told had succeeded. The same holds when only zeros
 * follow it: zeros are the "size extended, data never written" signature, and
 * zeros cannot hide an acknowledged record (every real header has length > 0).
 *
 * Why a bad record with non-zero data after it is NOT cut: the data after it
 * was written later, so the bad record was not the in-flight write when the
 * file last stopped growing; it may have been acknowledged long ago and then
 * damaged (bit rot, a bad sector, a stray write). Cutting there would silently
 * drop acknowledged records after it, so the caller must refuse to start and
 * let an operator decide. (The price: if power fails mid-batch and the disk
 * persists a later page of the batch before an earlier one, that batch, none of
 * which was acknowledged, is reported as corrupt rather than cut. We prefer a
 * master that refuses to start over one that forgets acknowledged mutations.)
 *
 * Known limit, shared with etcd's WAL: the length field has no checksum of its
 * own, so a damaged length in an old record that points past the end of the
 * file looks exactly like case 1. The caller logs how many bytes every cut
 * removes, so an unexpectedly large cut is visible.
 */
export function decodeRecords(buf: Buffer, startOffset = 0): DecodeResult {
  const records: Buffer[] = [];
  const offsets: number[] = [];
  let offset = startOffset;
  const fail = (kind: DecodeProblem['kind'], detail: string): DecodeResult => ({
    records,
    offsets,
    validEnd: offset,
    problem: { kind, offset, detail },
  });

  while (offset < buf.length) {
    const remaining = buf.length - offset;
    if (remaining < RECORD_HEADER_BYTES) {
      return fail('torn', `incomplete header: ${remaining} of ${RECORD_HEADER_BYTES} bytes`);
    }
    const length = buf.readUInt32LE(offset);
    const storedCrc = buf.readUInt32LE(offset + 4);
    const payloadStart = offset + RECORD_HEADER_BYTES;

    if (length === 0 || length > MAX_RECORD_BYTES) {
      const detail = `invalid record length ${length} (must be 1..${MAX_RECORD_BYTES})`;
      return onlyZerosFrom(buf, payloadStart)
        ? fail('torn', `${detail}, nothing but zeros after it`)
        : fail('corrupt', `${detail}, followed by more data`);
    }
    const end = payloadStart + length;
    if (end > buf.length) {
      return fail('torn', `incomplete payload: ${buf.length - payloadStart} of ${length} bytes`);
    }
    const payload = buf.subarray(payloadStart, end);
    const actualCrc = crc32c(payload);
    if (actualCrc !== storedCrc) {
      const detail = `crc32c mismatch: stored ${hex(storedCrc)}, computed ${hex(actualCrc)} over ${length} bytes`;
      if (end === buf.length) return fail('torn', `${detail}, last record in the file`);
      if (onlyZerosFrom(buf, end)) return fail('torn', `${detail}, nothing but zeros after it`);
      return fail('corrupt', `${detail}, followed by more data`);
    }
    records.push(payload);
    offsets.push(offset);
    offset = end;
  }
  return { records, offsets, validEnd: offset };
}

function onlyZerosFrom(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}
