import { z } from 'zod';
import { chunkIdSchema } from '../core/chunk-id.js';
import { eventIdSchema, masterEventSchema } from '../core/events.js';
import { LIST_PAGE_MAX, LOCATE_CHUNKS_MAX } from '../core/master-queries.js';
import { MAX_MODE } from '../core/permissions.js';

/**
 * Every message OFS sends between processes, declared once: the schema both
 * validates what arrives and gives the TypeScript type both sides use.
 * Bytes never appear here: they travel as raw ZeroMQ frames beside the body.
 */

const chunkId = chunkIdSchema;
const nonNegative = z.number().int().nonnegative();

/** Replicas in one `master.chunkReport`: ~70 bytes each as JSON, ~560 KiB, well inside a message's 1 MiB header. */
export const REPORT_PART_CHUNKS = 8_192;

const address = z.string().regex(/^tcp:\/\/[^\s]+:\d+$/, 'an address looks like tcp://host:port');
const serverRef = z.object({ id: z.string().min(1), address });
const empty = z.object({});
const bufferId = z.string().regex(/^[0-9a-f]{8,64}$/, 'a buffer id is hex');
/** Names a mutating request across retries, so a retry after a failover is not applied twice. */
const requestId = z.string().min(1).max(64).optional();
/**
 * The largest file `master.put` carries. The master relays its bytes to every
 * replica, so they stay small next to the messages' own cost (a 1 KiB file's
 * bytes are a sliver of its CPU); bigger files go the GFS way, straight to the
 * chunkservers, where the master never sees them.
 */
export const PUT_MAX_BYTES = 16 * 1024;

/**
 * A chunkserver's data socket (docs/design.md, "Security"): where chunk.push
 * and chunk.read go, and whether it speaks CURVE. Plain by default: the
 * bytes there are authorised by capability tokens, not encrypted.
 */
export const dataSocketSchema = z.object({ address, curve: z.boolean() });

/** Replicas per chunk at most (`--replication`): a push's chain is one less. */
export const MAX_REPLICATION = 16;
export type DataSocket = z.infer<typeof dataSocketSchema>;

/** A capability token for one chunk (security/chunk-token.ts), granted by the master. */
const chunkToken = z.object({
  chunkId,
  version: nonNegative,
  access: z.enum(['read', 'write']),
  client: z.string().max(256),
  expiresAt: nonNegative,
  mac: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a MAC is 32 bytes of base64url'),
});
/** A chunkserver holding a replica: its control address, and its data socket once the master has heard of it. */
const replicaRef = serverRef.extend({ data: dataSocketSchema.optional() });

const chunkserverLoad = z.object({
  id: z.string().min(1),
  address,
  /** Its data socket: sent with heartbeats and reports; the master hands it out with leases and locations. */
  data: dataSocketSchema.optional(),
  used: nonNegative,
  free: nonNegative,
  capacity: nonNegative,
  chunkCount: nonNegative,
  /** New with every start of the process: a change tells the master that what it knew of the server's replicas is gone with the old one. */
  incarnation: z.string().min(1).max(64).optional(),
});

const chunkReportEntry = z.object({ chunkId, version: nonNegative, length: nonNegative });

const locatedChunk = z.object({
  index: nonNegative,
  chunkId,
  version: nonNegative,
  /** Bytes of this chunk that belong to the file. */
  length: nonNegative,
  replicas: z.array(replicaRef.extend({ version: nonNegative })),
  /** The chunkserver holding the chunk's lease now, if any. */
  primary: z.string().nullable(),
  /** Read access to this version, for the client that asked (none when the cluster runs without security). */
  token: chunkToken.optional(),
});

/** A node's owner, group and mode (core/permissions.ts). */
const ownership = { owner: z.string(), group: z.string(), mode: z.number().int().min(0).max(MAX_MODE) };
/** A mode for what a create or mkdir makes; the default (0755 directories, 0644 files) when absent. */
const newMode = z.number().int().min(0).max(MAX_MODE).optional();

const directoryEntry = z.object({
  name: z.string(),
  type: z.enum(['file', 'dir']),
  size: nonNegative,
  mtime: nonNegative,
  ...ownership,
});

/** Balancing as it stands: the fill spread, the goal, and the replicas (and their bytes) moved so far. */
const balanceProgress = z.object({ spread: z.number(), moved: nonNegative, movedBytes: nonNegative, threshold: z.number() });

const leaseReply = z.object({
  index: nonNegative,
  chunkId,
  version: nonNegative,
  primary: serverRef,
  replicas: z.array(replicaRef),
  leaseMs: z.number().int().positive(),
  chunkSize: z.number().int().positive(),
  /** Write access to this version, for the client that asked (none when the cluster runs without security). */
  token: chunkToken.optional(),
});

export const protocol = {
  // client → master: namespace
  'master.mkdir': { request: z.object({ path: z.string(), parents: z.boolean(), mode: newMode, requestId }), reply: empty },
  /**
   * Makes (or truncates) a file. `lease`: also place its first chunk and
   * answer with that chunk's lease, as `master.lease` would (a writer with
   * bytes in hand saves a round trip and a journal write per file).
   */
  'master.create': {
    request: z.object({ path: z.string(), overwrite: z.boolean(), lease: z.boolean().optional(), mode: newMode, requestId }),
    reply: z.object({ chunkSize: z.number().int().positive(), replication: z.number().int().positive(), lease: leaseReply.optional() }),
  },
  /**
   * Makes (or replaces) a small file with its bytes, the one data frame of
   * at most PUT_MAX_BYTES: the master places its chunk and sends the bytes
   * with the chunk's first version to every replica, each of which syncs them
   * before it answers; the answer comes once the version and the size are
   * journaled. One round to the master instead of three (create with lease,
   * commit, extend): design.md, "A small file".
   */
  'master.put': { request: z.object({ path: z.string(), length: z.number().int().min(1).max(PUT_MAX_BYTES), mode: newMode, requestId }), reply: empty },
  /**
   * Where to send a mutation of chunk `index` (`last`: the file's last chunk,
   * for record append): the primary holding the lease and every replica.
   * Missing chunks up to `index` are allocated. `afterFailure` says the last
   * mutation through the current lease failed: grant a new lease, with a new
   * version, on the replicas that still answer.
   */
  'master.lease': {
    request: z.object({ path: z.string(), index: z.union([nonNegative, z.literal('last')]), afterFailure: z.boolean() }),
    reply: leaseReply,
  },
  /** The file is at least `size` bytes long (a writer's mutations up to there succeeded). */
  'master.extend': { request: z.object({ path: z.string(), size: nonNegative, requestId }), reply: empty },
  /**
   * `chunks: false`: a stat, without the chunks (needs only traverse, where
   * the chunks need r). With them, a window: at most LOCATE_CHUNKS_MAX from
   * chunk `from` (0 when absent), as a GFS client asks for a range of chunks;
   * `chunkCount` says how many the file has, `firstChunkId` which file this
   * is (a file replaced under its name has new chunks), for a reader that
   * meets it again in another window.
   */
  'master.locate': {
    request: z.object({ path: z.string(), chunks: z.boolean().optional(), from: nonNegative.optional() }),
    reply: z.object({
      path: z.string(),
      type: z.enum(['file', 'dir']),
      size: nonNegative,
      mtime: nonNegative,
      ...ownership,
      chunkSize: z.number().int().positive(),
      chunkCount: nonNegative,
      firstChunkId: chunkId.nullable(),
      chunks: z.array(locatedChunk).max(LOCATE_CHUNKS_MAX),
    }),
  },
  /** A page of a directory: entries after the name `after`, at most `limit` (LIST_PAGE_MAX when absent) and 768 KiB of JSON; `more` if others follow. */
  'master.list': {
    request: z.object({ path: z.string(), after: z.string().min(1).max(4096).optional(), limit: z.number().int().min(1).max(LIST_PAGE_MAX).optional() }),
    reply: z.object({ entries: z.array(directoryEntry), more: z.boolean() }),
  },
  'master.delete': { request: z.object({ path: z.string(), recursive: z.boolean(), requestId }), reply: empty },
  'master.rename': { request: z.object({ from: z.string(), to: z.string(), requestId }), reply: empty },
  /** Brings back the most recently deleted `path` from the trash. */
  'master.undelete': { request: z.object({ path: z.string(), requestId }), reply: empty },
  /** The node's mode: by its owner or the superuser. */
  'master.chmod': { request: z.object({ path: z.string(), mode: z.number().int().min(0).max(MAX_MODE), requestId }), reply: empty },
  /** A new owner (the superuser only), a new group (also its owner, to a group of its own), or both. */
  'master.chown': { request: z.object({ path: z.string(), owner: z.string().max(64).optional(), group: z.string().max(64).optional(), requestId }), reply: empty },
  'master.status': {
    /**
     * `digest`: also a digest of the whole namespace; `underReplicated`: also count the chunks short of
     * replicas. Each looks at everything the master holds: for operators, audits and tests, not every status.
     */
    request: z.object({ digest: z.boolean().optional(), underReplicated: z.boolean().optional() }),
    reply: z.object({
      master: z.object({ id: z.string(), address, epoch: nonNegative, seq: nonNegative, digest: z.string().optional() }),
      /**
       * `lag` is how many events the standby has yet to acknowledge, null while it is not attached;
       * `inSync`: it holds every acknowledged event and may take over (until then it installs its snapshot and catches up).
       */
      standby: z.array(serverRef.extend({ lag: nonNegative.nullable(), inSync: z.boolean() })),
      chunkservers: z.array(chunkserverLoad.extend({ lastHeartbeatMs: nonNegative })),
      chunkSize: z.number().int().positive(),
      replication: z.number().int().positive(),
      files: nonNegative,
      chunks: nonNegative,
      underReplicated: nonNegative.optional(),
    }),
  },

  /**
   * Health of every file at or below `path`: replica counts and versions per
   * chunk. The files listed fit 512 KiB, those with a chunk that needs
   * attention first; `unlisted` counts the others. The summary counts all.
   */
  'master.fsck': {
    request: z.object({ path: z.string() }),
    reply: z.object({
      files: z.array(
        z.object({
          path: z.string(),
          size: nonNegative,
          chunks: z.array(
            z.object({
              index: nonNegative,
              chunkId,
              version: nonNegative,
              live: z.array(z.string()),
              stale: z.array(z.object({ id: z.string(), version: nonNegative })),
              /** Servers that reported this chunk's replica corrupt, until a copy replaces it. */
              corrupt: z.array(z.string()),
              status: z.enum(['healthy', 'under-replicated', 'missing', 'hole']),
            }),
          ),
        }),
      ),
      unlisted: nonNegative,
      summary: z.object({
        files: nonNegative,
        chunks: nonNegative,
        healthy: nonNegative,
        underReplicated: nonNegative,
        missing: nonNegative,
        stale: nonNegative,
        corrupt: nonNegative,
      }),
      replication: z.number().int().positive(),
    }),
  },
  /** Balance disk use down to `threshold` (fullest minus emptiest fill, 0-1) now; reports progress. */
  'master.balance': {
    request: z.object({ threshold: z.number().min(0).max(1) }),
    reply: balanceProgress,
  },
  /** Re-replication and balancing as they stand: the copies under way, and balancing's spread, moves and goal. Changes nothing. */
  'master.replication': {
    request: empty,
    reply: balanceProgress.extend({ copies: z.array(z.object({ chunkId, source: z.string(), target: z.string() })) }),
  },
  'master.checkpoint': { request: empty, reply: z.object({ seq: nonNegative, path: z.string() }) },

  // standby → active master: events after `seq` will stream to the standby. `newest` is the standby's newest event:
  // if the active's journal holds that same event, `seq` is its seq and the events after it stream (no snapshot);
  // else `snapshot` names the namespace at `seq`, to be installed first
  'master.attachStandby': {
    request: serverRef.extend({ newest: eventIdSchema.optional() }),
    reply: z.object({ seq: nonNegative, snapshot: z.string().optional() }),
  },
  // standby → active master: piece `index` of the snapshot (namespace-snapshot.ts checks what it holds)
  'master.snapshotPiece': {
    request: z.object({ snapshot: z.string().max(200), index: nonNegative }),
    reply: z.object({ piece: z.unknown(), done: z.boolean() }),
  },
  // active → standby: events in order, journaled by the standby before it answers
  'standby.append': { request: z.object({ events: z.array(masterEventSchema) }), reply: z.object({ seq: nonNegative }) },

  /** Chaos testing (OFS_FAULT_INJECTION=1 only): make one named actor crash, as a bug would. */
  'admin.crashActor': { request: z.object({ actor: z.string().min(1).max(64) }), reply: z.object({ crashed: z.string() }) },
  /**
   * Chaos testing (OFS_FAULT_INJECTION=1 only): block the process's event loop for `ms`, as a long
   * synchronous computation or GC pause would (ZeroMQ's and libuv's own threads run on). Answered after.
   */
  'admin.blockEventLoop': { request: z.object({ ms: z.number().int().min(1).max(60_000) }), reply: z.object({ blockedMs: nonNegative }) },

  // a master that just took over → chunkserver: everything it holds, REPORT_PART_CHUNKS at a time from `from` of
  // a list taken at the first part (`from` 0) and kept until the last (`more` false)
  'chunkserver.report': {
    request: z.object({ from: nonNegative }),
    reply: chunkserverLoad.extend({ chunks: z.array(chunkReportEntry).max(REPORT_PART_CHUNKS), more: z.boolean() }),
  },

  // chunkserver → master
  'master.heartbeat': {
    /**
     * `leases`: leases this chunkserver holds as primary and wants extended (GFS 3.1), each
     * with where acknowledged record appends reach in its chunk: how the master learns the
     * size that appends gave a file. At most REPORT_PART_CHUNKS, the most recently used.
     */
    request: chunkserverLoad.extend({ leases: z.array(chunkReportEntry).max(REPORT_PART_CHUNKS) }),
    /** `known: false` asks the chunkserver for a full chunk report (a master that just started). */
    reply: z.object({
      known: z.boolean(),
      deleteChunks: z.array(chunkId),
      extended: z.array(z.object({ chunkId, version: nonNegative, leaseMs: z.number().int().positive() })),
    }),
  },
  /** A replica failed its checksums (on a read, or the scrubber): the master stops handing it out. */
  'master.reportCorrupt': {
    request: z.object({ id: z.string().min(1), chunkId, blocks: z.array(nonNegative) }),
    /** `discard`: another good replica exists, so delete this one (re-replication replaces it). */
    reply: z.object({ discard: z.boolean() }),
  },
  /**
   * `full`: every replica the server holds, which replaces what the master
   * knew of it; in `part`s when too many for one message (a server's
   * chunks past REPORT_PART_CHUNKS), the last part settling the rest.
   */
  'master.chunkReport': {
    request: chunkserverLoad.extend({
      full: z.boolean(),
      part: z.object({ report: z.string().min(1).max(64), first: z.boolean(), last: z.boolean() }).optional(),
      chunks: z.array(chunkReportEntry).max(REPORT_PART_CHUNKS),
    }),
    reply: z.object({ deleteChunks: z.array(chunkId) }),
  },

  // client or upstream chunkserver → chunkserver: the bytes of one mutation of a chunk (one raw frame),
  // held under `bufferId` until the primary orders them applied (GFS 3.2); `chain`: the data sockets it goes on to,
  // each checking the same token
  'chunk.push': {
    // At most MAX_REPLICATION - 1 hops, each once: a push's chain is the client's to name, and each hop holds the bytes
    // until the rest of the chain has them.
    request: z.object({
      chunkId, version: nonNegative, bufferId, token: chunkToken.optional(),
      chain: z.array(dataSocketSchema).max(MAX_REPLICATION - 1).refine((chain) => new Set(chain.map((c) => c.address)).size === chain.length, 'names a chunkserver twice'),
    }),
    reply: empty,
  },
  // master → replica: the chunk's new version, before any client hears of the lease (GFS 4.5). With `lease`,
  // this replica is the primary: until the lease ends it sends every mutation to exactly these secondaries
  // and keeps the chunk within this size, whatever a client says (the master owns the replica set)
  'chunk.setVersion': {
    request: z.object({
      chunkId,
      version: nonNegative,
      /** A new chunk: a server without it makes its replica, empty, at `version`. Otherwise only an existing replica's version changes. */
      fresh: z.boolean().optional(),
      /** A new chunk's bytes, `put` bytes in the one data frame: written from offset 0 and synced before the answer (`master.put`). */
      put: z.number().int().min(1).max(PUT_MAX_BYTES).optional(),
      lease: z.object({ leaseMs: z.number().int().positive(), secondaries: z.array(serverRef), chunkSize: z.number().int().positive() }).optional(),
    }),
    reply: z.object({ version: nonNegative, length: nonNegative }),
  },
  'chunk.revokeLease': { request: z.object({ chunkId }), reply: empty },
  // master → a chunkserver that should hold another replica: copy the chunk from `source` (re-replication),
  // reading it with `token`, granted to the copying chunkserver for this copy
  'chunk.copyFrom': {
    request: z.object({ chunkId, version: nonNegative, source: address, token: chunkToken.optional() }),
    reply: z.object({ length: nonNegative }),
  },
  // client → primary: apply the pushed bytes (or, without `bufferId`, the bytes in the one data
  // frame: a small mutation skips the push); the primary picks the order (and, to append, the offset).
  // Strict: a commit that names anything more (a replica set, a chunk size) is refused, not half obeyed
  'chunk.commit': {
    request: z.strictObject(
      {
        chunkId,
        version: nonNegative,
        bufferId: bufferId.optional(),
        mode: z.enum(['write', 'append']),
        offset: nonNegative,
        length: nonNegative,
        token: chunkToken.optional(),
      },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys'
            ? `a commit may not name ${issue.keys.join(', ')}: the primary sends it to the replicas and within the chunk size of its lease from the master`
            : undefined,
      },
    ),
    /** `padded`: the record did not fit, the chunk was padded to its end; append to the next chunk. */
    reply: z.object({ offset: nonNegative, padded: z.boolean() }),
  },
  // primary → secondary: apply mutation `serial` exactly as the primary did: zeros if `padded`, else
  // the bytes pushed under `bufferId`, else those in the one data frame
  'chunk.apply': {
    request: z.object({
      chunkId,
      version: nonNegative,
      serial: z.number().int().positive(),
      padded: z.boolean(),
      bufferId: bufferId.optional(),
      offset: nonNegative,
      length: nonNegative,
    }),
    reply: empty,
  },
  'chunk.read': {
    request: z.object({ chunkId, version: nonNegative, offset: nonNegative, length: nonNegative, token: chunkToken.optional() }),
    /** `chunkLength`: the replica's synced length, which may pass the size the master has recorded (appends not yet reported). */
    reply: z.object({ length: nonNegative, chunkLength: nonNegative }),
  },
} as const;

export type MessageType = keyof typeof protocol;
export type RequestOf<T extends MessageType> = z.infer<(typeof protocol)[T]['request']>;
export type ReplyOf<T extends MessageType> = z.infer<(typeof protocol)[T]['reply']>;

export function isMessageType(type: unknown): type is MessageType {
  return typeof type === 'string' && Object.hasOwn(protocol, type);
}

/** The largest data frame a request may carry (a record of up to a quarter of a 64 MiB chunk); bigger is a bug or an attack. */
export const MAX_DATA_FRAME = 16 * 1024 * 1024;
