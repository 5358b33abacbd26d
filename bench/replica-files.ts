/**
 * One replica's share of the small-file baseline (bench/data-path.ts): the
 * file work a chunkserver does for a small file's new chunk, with nothing
 * else. For each file: a data file and a meta file made, written and
 * fdatasynced, and the directory fsynced for their names, one directory
 * fsync shared by whatever asks at once (as the chunk store does).
 * Prints "ready" once started, begins on a line on stdin (so that the
 * processes' own start is not timed), and prints {"seconds"}.
 *   node dist/bench/replica-files.js DIR COUNT IN_FLIGHT
 */
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { CoalescedSync } from '../src/storage/coalesced-sync.js';

const [dir, count, inFlight] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
const DATA = Buffer.alloc(1024, 0x5a);
/** About what a new chunk's meta file holds: a header and its first slot. */
const META = Buffer.alloc(128, 0xa5);

await mkdir(dir, { recursive: true });
const directory = await open(dir, 'r');
const directorySync = new CoalescedSync(() => directory.sync());
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();

async function writeSynced(path: string, bytes: Buffer): Promise<void> {
  const file = await open(path, 'w');
  await file.write(bytes);
  await file.datasync();
  await file.close();
}

const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: inFlight }, async () => {
    for (let i = next++; i < count; i = next++) {
      await Promise.all([writeSynced(join(dir, `${i}.data`), DATA), writeSynced(join(dir, `${i}.meta`), META)]);
      await directorySync.sync();
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
await directory.close();
process.stdout.write(`${JSON.stringify({ seconds })}\n`);
