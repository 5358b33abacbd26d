import test from 'ava';
import { checkAppends, type AppendAttempt } from '../helpers/history/append-check.js';
import { encodeRecord } from '../helpers/records.js';

const CHUNK = 256;

/** A file laid out as GFS may: records at given offsets, zeros (padding, unwritten) between. */
function file(size: number, placed: [AppendAttempt, number][]): Buffer {
  const data = Buffer.alloc(size);
  for (const [a, at] of placed) a.record.copy(data, at);
  return data;
}

const attempt = (client: number, seq: number, offset?: number): AppendAttempt => ({ client, seq, record: encodeRecord(client, seq, Buffer.alloc(20, client + 1)), offset });

test('acknowledged records at their offsets, with padding, a duplicate from a retry and a failed attempt that landed, pass', (t) => {
  const a = attempt(0, 0, 0);
  const b = attempt(1, 0, 40);
  const c = attempt(0, 1, CHUNK); // the chunk was padded to its end
  const failed = attempt(1, 1); // no answer: it may be there
  const data = file(2 * CHUNK, [[a, 0], [b, 40], [b, 80], [c, CHUNK], [failed, CHUNK + 40]]);
  const check = checkAppends(data, [a, b, c, failed], CHUNK, 1);
  t.deepEqual(check.problems, []);
  t.is(check.duplicates, 1);
  t.is(check.unacknowledgedFound, 1);
});

test('an acknowledged record missing, moved, torn or overlapping another is reported', (t) => {
  const a = attempt(0, 0, 0);
  const b = attempt(1, 0, 40);
  t.regex(checkAppends(file(CHUNK, [[a, 0]]), [a, b], CHUNK).problems.join(), /client 1 record 0, acknowledged at 40, is not there/);
  t.regex(checkAppends(file(CHUNK, [[a, 0], [b, 44]]), [a, b], CHUNK).problems.join(), /client 1 record 0, acknowledged at 40/);
  const torn = file(CHUNK, [[a, 0], [b, 40]]);
  torn[50] ^= 1;
  t.regex(checkAppends(torn, [a, b], CHUNK).problems.join(), /client 1 record 0, acknowledged at 40, is not there/);
  const overlapping = attempt(1, 0, 10);
  t.regex(checkAppends(file(CHUNK, [[a, 0]]), [a, overlapping], CHUNK).problems.join(), /overlaps client 0 record 0/);
});

test('a record straddling a chunk boundary, one never appended, and more duplicates than resends are reported', (t) => {
  const straddling = attempt(0, 0, CHUNK - 10);
  t.regex(checkAppends(file(2 * CHUNK, [[straddling, CHUNK - 10]]), [straddling], CHUNK).problems.join(), /straddles a chunk boundary/);
  const forged = attempt(3, 9);
  t.regex(checkAppends(file(CHUNK, [[forged, 0]]), [], CHUNK).problems.join(), /a record no client appended/);
  const a = attempt(0, 0, 0);
  t.regex(checkAppends(file(CHUNK, [[a, 0], [a, 60]]), [a], CHUNK, 0).problems.join(), /1 duplicate records, but only 0/);
});
