import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { OfsError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../util/logger.js';
import { PREVIEW_MAX_BYTES, readFileBytes } from './file-bytes.js';
import { consoleMasters, type ConsoleHost } from './host.js';
import { LiveFeed } from './live-feed.js';
import { fsckView, type ClusterSummary } from './views.js';

/** Entries in one page of the file browser (the master's list pages hold up to 10,000: too many for a page to draw). */
export const BROWSE_PAGE_MAX = 1_000;
const BROWSE_PAGE_DEFAULT = 200;
/** Problem chunks the fsck view lists; the rest are counted. */
const FSCK_PROBLEMS_MAX = 500;

// Paths are checked by the master itself (normalizePath): the schemas bound only their length.
const path = z.string().min(1).max(4096);
const queries = {
  list: z.strictObject({
    path: path.default('/'),
    after: z.string().min(1).max(4096).optional(),
    limit: z.coerce.number().int().min(1).max(BROWSE_PAGE_MAX).default(BROWSE_PAGE_DEFAULT),
  }),
  file: z.strictObject({ path }),
  bytes: z.strictObject({
    path,
    offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
    length: z.coerce.number().int().min(1).max(PREVIEW_MAX_BYTES).default(PREVIEW_MAX_BYTES),
  }),
  fsck: z.strictObject({ path: path.default('/') }),
  none: z.strictObject({}),
};

/** The query string, checked: an unknown parameter or a value out of range is an EINVAL naming it. */
function parseQuery<S extends z.ZodType>(schema: S, url: URL): z.infer<S> {
  const parsed = schema.safeParse(Object.fromEntries(url.searchParams));
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
  throw new OfsError('EINVAL', `bad query ${url.search || '(none)'}: ${problems.join('; ')}`);
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  ENOENT: 404,
  EINVAL: 400,
  EISDIR: 400,
  ENOTDIR: 400,
  ENOTACTIVE: 503,
  EUNAVAILABLE: 503,
  ETIMEDOUT: 504,
};

/**
 * On every API answer: its content type is what it is (no sniffing), and a
 * file's bytes opened by URL are a download, sandboxed, never a page of this
 * origin that could script the console.
 */
const API_HEADERS = { 'x-content-type-options': 'nosniff', 'content-security-policy': 'sandbox', 'cache-control': 'no-store' } as const;

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { ...API_HEADERS, 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
}

/** An OfsError as `{error: {code, message}}` with the HTTP status of its code; anything else is a 500. */
export function sendError(response: ServerResponse, err: unknown): void {
  const error = err instanceof OfsError ? err : new OfsError('EINTERNAL', (err as Error).message);
  sendJson(response, STATUS_OF[error.code] ?? 500, { error: { code: error.code, message: error.message } });
}

type ApiHandler = (url: URL, response: ServerResponse) => Promise<void>;

/**
 * The console's JSON APIs under `/api/`, by name: each a master query, read
 * only. `masters` is answered by every master (a page asks it where the
 * active console went); the others are for the active master alone.
 */
export function consoleApi(host: ConsoleHost, log: Logger): { masters: ApiHandler; served: Map<string, ApiHandler> } {
  const summary = async (): Promise<ClusterSummary> => {
    const [status, replication] = await Promise.all([host.call('master.status', {}), host.call('master.replication', {})]);
    return { status, replication, masters: consoleMasters(host), at: Date.now() };
  };
  const feed = new LiveFeed(summary, log);
  const json = (answer: (url: URL) => Promise<unknown>): ApiHandler => async (url, response) => sendJson(response, 200, await answer(url));

  const served = new Map<string, ApiHandler>([
    ['summary', json(async (url) => {
      parseQuery(queries.none, url);
      return summary();
    })],
    ['events', async (url, response) => {
      parseQuery(queries.none, url);
      feed.watch(response);
    }],
    ['list', json(async (url) => {
      const { path, after, limit } = parseQuery(queries.list, url);
      return { path, ...(await host.call('master.list', { path, after, limit })) };
    })],
    ['file', json(async (url) => host.call('master.locate', parseQuery(queries.file, url)))],
    ['fsck', json(async (url) => {
      const { path } = parseQuery(queries.fsck, url);
      return fsckView(path, await host.call('master.fsck', { path }), FSCK_PROBLEMS_MAX);
    })],
    ['bytes', async (url, response) => {
      const { path, offset, length } = parseQuery(queries.bytes, url);
      const read = await readFileBytes(host, path, offset, length);
      response.writeHead(200, {
        ...API_HEADERS,
        'content-type': 'application/octet-stream',
        'content-disposition': 'attachment',
        'x-ofs-offset': String(read.offset),
        'x-ofs-size': String(read.size),
      });
      response.end(read.bytes);
    }],
  ]);
  const masters = json(async (url) => {
    parseQuery(queries.none, url);
    return { self: host.id, serving: host.isActive(), masters: consoleMasters(host) };
  });
  return { masters, served };
}
