import { produce } from 'immer';
import { z } from 'zod';
import { chunkIdSchema } from './chunk-id.js';
import { OfsError } from './errors.js';
import type { DirNode, Namespace, Node } from './namespace.js';
import { emptyRetryCache, remember } from './retry-cache.js';

/**
 * The schema of a whole namespace, as the active master sends it to a
 * standby that attaches (the snapshot it then streams events after). The
 * standby installs and journals it, so it is checked like every other message.
 */
const count = z.number().int().nonnegative();

const fileNodeSchema = z.object({
  kind: z.literal('file'),
  size: count,
  mtime: count,
  chunks: z.array(z.object({ id: chunkIdSchema, version: count })),
});

const dirNodeSchema: z.ZodType<DirNode> = z.object({
  kind: z.literal('dir'),
  mtime: count,
  get children() {
    return z.record(z.string().min(1), nodeSchema);
  },
});

const nodeSchema: z.ZodType<Node> = z.union([fileNodeSchema, dirNodeSchema]);

export const namespaceSchema: z.ZodType<Namespace> = z.object({
  seq: count,
  nextChunkId: z.number().int().positive(),
  root: dirNodeSchema,
  recentRequests: z.record(z.string(), z.record(z.string().min(1), count)),
});

/**
 * A namespace as an older OFS wrote it (a checkpoint, a snapshot) in today's
 * form: its retry cache was a list of ids, oldest first.
 */
export function upgradeNamespace<T extends { recentRequests?: unknown }>(ns: T): T {
  const ids = ns.recentRequests;
  if (!Array.isArray(ids)) return ns;
  const recentRequests = produce(emptyRetryCache, (draft) => ids.forEach((id, i) => typeof id === 'string' && remember(draft, id, i)));
  return { ...ns, recentRequests };
}

export function encodeNamespace(ns: Namespace): Buffer {
  return Buffer.from(JSON.stringify(ns));
}

/** A namespace from bytes, or EBADMSG naming what is wrong with them. */
export function decodeNamespace(bytes: Buffer | undefined): Namespace {
  if (!bytes) throw new OfsError('EBADMSG', 'a namespace snapshot was expected and none came');
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new OfsError('EBADMSG', `the namespace snapshot is not JSON: ${(err as Error).message}`);
  }
  const parsed = namespaceSchema.safeParse(value && typeof value === 'object' ? upgradeNamespace(value) : value);
  if (!parsed.success) throw new OfsError('EBADMSG', `malformed namespace snapshot: ${parsed.error.message.slice(0, 500)}`);
  return parsed.data;
}
