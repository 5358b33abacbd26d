import type { ServerResponse } from 'node:http';
import type { Logger } from '../util/logger.js';

/** How often the feed pushes: often enough to watch a copy or a heartbeat age move. */
export const FEED_INTERVAL_MS = 1_000;
/** Browsers watching at once: each costs the master a socket and a write a second. */
export const MAX_WATCHERS = 64;
/** Bytes a watcher may leave unread (a few summaries) before it is cut off: one that never reads must not grow the master's memory. */
const MAX_UNREAD_BYTES = 64 * 1024;

/**
 * Server-sent events for the console's live pages: one summary taken per
 * interval however many browsers watch, pushed to each, and no timer at all
 * while none does. A summary that cannot be taken (this master stopped
 * being active) goes out as an `unavailable` event, for the page to look
 * for the active master's console.
 */
export class LiveFeed<T> {
  private readonly watchers = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  /** A summary is being taken: a tick meanwhile is skipped rather than piling up behind a slow master. */
  private taking = false;

  constructor(
    private readonly take: () => Promise<T>,
    private readonly log: Logger,
  ) {}

  /** Streams to `response` until the browser goes away. */
  watch(response: ServerResponse): void {
    if (this.watchers.size >= MAX_WATCHERS) {
      response.writeHead(503, { 'retry-after': '5', 'content-type': 'text/plain; charset=utf-8' });
      response.end(`${MAX_WATCHERS} browsers are watching this master's live feed already; try again later\n`);
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.watchers.add(response);
    response.on('close', () => {
      this.watchers.delete(response);
      if (this.watchers.size === 0) this.stop();
    });
    void this.push([response]);
    this.timer ??= setInterval(() => {
      if (!this.taking) void this.push([...this.watchers]);
    }, FEED_INTERVAL_MS);
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async push(to: ServerResponse[]): Promise<void> {
    let frame: string;
    this.taking = true;
    try {
      frame = `event: summary\ndata: ${JSON.stringify(await this.take())}\n\n`;
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'console feed: no summary');
      frame = `event: unavailable\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`;
    } finally {
      this.taking = false;
    }
    for (const response of to) {
      if (response.writableEnded) continue;
      if (response.writableLength > MAX_UNREAD_BYTES) response.destroy();
      else response.write(frame);
    }
  }
}
