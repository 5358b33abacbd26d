import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** V8's full collection, reachable without starting node with --expose-gc. */
const gc = runInNewContext('gc') as () => void;

/** Bytes the JS heap and array buffers hold after a full collection: what a data structure costs, read before and after building it. */
export function heldBytes(): number {
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** A full collection, then a turn of the event loop: FinalizationRegistry callbacks run as tasks after it. */
export async function collectGarbage(): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
}
