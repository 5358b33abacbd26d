import { scanRecords } from '../records.js';

/*
 * Record append is not checked for linearizability: GFS promises "atomically
 * at least once, at an offset of the system's choosing" (docs/consistency.md),
 * so what is checked is that promise, on a file's final bytes:
 * - every acknowledged record is there byte for byte at the offset it was
 *   acknowledged at, inside one chunk, and no two acknowledged records share
 *   a byte (each is exactly once where it was acknowledged);
 * - elsewhere, GFS allows padding and the debris of failed attempts, and
 *   copies of records sent again in a retried mutation: a scan by framing and
 *   checksum may find those, but never a record no client tried to append,
 *   and no more copies than records were sent again.
 */

export interface AppendAttempt {
  client: number;
  seq: number;
  /** The framed record (records.ts). */
  record: Buffer;
  /** The offset the append returned; undefined when it failed or did not answer. */
  offset?: number;
}

export interface AppendCheck {
  acknowledged: number;
  /** Copies of records found beyond one per record. */
  duplicates: number;
  /** Records found whose append failed or never answered (allowed). */
  unacknowledgedFound: number;
  problems: string[];
}

export function checkAppends(data: Buffer, attempts: readonly AppendAttempt[], chunkSize: number, resent?: number): AppendCheck {
  const problems: string[] = [];
  const name = (a: AppendAttempt) => `client ${a.client} record ${a.seq}`;
  const acked = attempts.filter((a) => a.offset !== undefined).sort((a, b) => a.offset! - b.offset!);
  for (const [i, a] of acked.entries()) {
    const at = a.offset!;
    if (!data.subarray(at, at + a.record.length).equals(a.record)) problems.push(`${name(a)}, acknowledged at ${at}, is not there byte for byte`);
    if (Math.floor(at / chunkSize) !== Math.floor((at + a.record.length - 1) / chunkSize)) problems.push(`${name(a)} at ${at} straddles a chunk boundary`);
    const before = acked[i - 1];
    if (before && before.offset! + before.record.length > at) problems.push(`${name(a)} at ${at} overlaps ${name(before)} at ${before.offset}`);
  }
  const byId = new Map(attempts.map((a) => [`${a.client}/${a.seq}`, a]));
  const copies = new Map<string, number>();
  let unacknowledgedFound = 0;
  for (const found of scanRecords(data)) {
    const id = `${found.writer}/${found.seq}`;
    const attempt = byId.get(id);
    if (!attempt || !data.subarray(found.offset, found.offset + found.length).equals(attempt.record)) {
      problems.push(`a record no client appended (client ${found.writer} record ${found.seq}) at ${found.offset}`);
      continue;
    }
    copies.set(id, (copies.get(id) ?? 0) + 1);
    if (attempt.offset === undefined && copies.get(id) === 1) unacknowledgedFound++;
  }
  const duplicates = [...copies.values()].reduce((n, c) => n + c - 1, 0);
  if (resent !== undefined && duplicates > resent) problems.push(`${duplicates} duplicate records, but only ${resent} were sent again in retried mutations`);
  return { acknowledged: acked.length, duplicates, unacknowledgedFound, problems };
}
