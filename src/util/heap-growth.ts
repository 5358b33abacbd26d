import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full collection
 * kept before it starts the next one, in percent: 300 is 4×, the largest
 * factor V8's own heuristic ever picks.
 */
const BULK_HEAP_GROWING_PERCENT = 300;

/**
 * For a process that moves bulk bytes through a small heap: a chunkserver
 * (about 13 MiB of objects, and every piece it receives, forwards and writes
 * in buffers V8 counts against its limits), or `ofs put`, `ofs get` and
 * `ofs cat`. Left to itself, V8 derives the factor from how fast it collects
 * against how fast the process allocates; for a chunkserver it judged
 * collections cheap and chose 1.2–1.5, and ran a full collection for every
 * 14–16 MiB written (docs/design.md, "(a) A write"). Set once, early in the
 * process: V8 reads it each time it sets its next limit.
 */
export function growHeapForBulkBytes(): void {
  setFlagsFromString(`--heap-growing-percent=${BULK_HEAP_GROWING_PERCENT}`);
}
