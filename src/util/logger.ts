import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * JSON lines on stderr (pino: structured, cheap, and stdout stays free for the
 * CLI's output and for `ofs cat` bytes). OFS_LOG_LEVEL picks the level.
 */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name, level: process.env.OFS_LOG_LEVEL ?? 'info', base: { pid: process.pid, ...bindings } }, pino.destination(2));
}

