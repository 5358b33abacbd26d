import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from './logger.js';

/** How often the longest stall of the last window is looked at. */
const WINDOW_MS = 1_000;

/**
 * Warns when this process's event loop was blocked for more than a third of
 * its ZooKeeper session timeout. The ZooKeeper client sends (pings, the
 * session's keep-alive) from the event loop only, so a block of 9/10 of the
 * timeout may end the session: a master would lose its role, a chunkserver
 * would exit. The warning says how close a process came, before it happens.
 * Returns a function that stops it.
 */
export function warnOfStalls(log: Logger, sessionTimeoutMs: number): () => void {
  const thresholdMs = sessionTimeoutMs / 3;
  const delays = monitorEventLoopDelay({ resolution: 20 });
  delays.enable();
  const timer = setInterval(() => {
    const stalledMs = Math.round(delays.max / 1e6);
    delays.reset();
    if (stalledMs > thresholdMs) {
      log.warn(
        { stalledMs, sessionTimeoutMs },
        'event loop blocked: ZooKeeper pings wait for it, and a block of 9/10 of the session timeout may lose the session',
      );
    }
  }, WINDOW_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    delays.disable();
  };
}
