import { dispatch, spawn, type Ref } from 'nact';
import type { ChunkInfo, ChunkStore } from '../../storage/chunk-store.js';
import { replicaActorName } from '../../core/chunk-id.js';
import { OfsError } from '../../core/errors.js';
import type { HeldLease, HeldLeases } from './held-leases.js';
import type { Logger } from '../../util/logger.js';
import { settle, type Result } from '../../util/result.js';
import { crashable, INJECTED_CRASH, resetOnCrash } from '../supervision.js';

/** How a mutation changes the bytes: the pushed data at an offset, or zeros over a range (padding). */
export type Mutation = { data: Buffer; offset: number } | { pad: true; offset: number; length: number };

/** A mutation the primary ordered, to send on to a secondary. */
export interface OrderedMutation {
  serial: number;
  offset: number;
  length: number;
  padded: boolean;
}

interface Sender<T> {
  sender: Ref<Result<T>>;
}

export type ReplicaMessage =
  /** `put`: a new chunk's bytes (`master.put`), written from offset 0 and synced before the answer. */
  | ({ kind: 'set-version'; chunkId: string; version: number; fresh: boolean; put?: Buffer } & Sender<ChunkInfo>)
  | ({
      kind: 'commit';
      chunkId: string;
      version: number;
      mode: 'write' | 'append';
      offset: number;
      data: Buffer;
      /** Sends the ordered mutation to the lease's secondaries; called inside the actor so they see serial order. */
      forward: (ordered: OrderedMutation, secondaries: HeldLease['secondaries']) => Promise<unknown>;
    } & Sender<{ ordered: OrderedMutation; durable: Promise<unknown>; forwarded: Promise<unknown> }>)
  | ({ kind: 'apply'; chunkId: string; version: number; serial: number; mutation: Mutation } & Sender<{ durable: Promise<unknown> }>)
  | ({ kind: 'read'; chunkId: string; version: number; offset: number; length: number } & Sender<Buffer>)
  | ({
      kind: 'copy';
      chunkId: string;
      version: number;
      /** Reads the next piece of the chunk from the replica being copied; a short piece is the last. */
      fetch: (offset: number) => Promise<Buffer>;
    } & Sender<ChunkInfo>)
  | ({ kind: 'verify'; chunkId: string } & Sender<number[]>)
  | ({ kind: 'delete'; chunkId: string } & Partial<Sender<void>>)
  /** Fault injection: makes this chunk's replica actor crash, as a bug would. */
  | { kind: typeof INJECTED_CRASH; chunkId: string };

/**
 * Serial of the last mutation applied to each chunk at its version (a new
 * version starts again at 0). Kept by the chunkserver, not the actor, so that
 * an idle replica actor that was stopped does not forget it.
 */
export type SerialBook = Map<string, { version: number; serial: number }>;

/** A replica being copied is read from its source in pieces of this size. */
export const COPY_PIECE_BYTES = 1024 * 1024;
/** The version of a replica while it is being copied in: below every version a chunk is ever granted (1 and up). */
export const UNFINISHED_COPY_VERSION = 0;
/** Zeros are written in pieces of this size to fill holes and padding. */
const ZERO_PIECE = Buffer.alloc(1024 * 1024);

/**
 * One chunk's replica on this chunkserver. As an actor it applies the
 * operations on its chunk one at a time: as primary it gives each mutation
 * the next serial number and forwards it in that order; as secondary it
 * applies mutations only in serial order (GFS 3.1).
 */
export function spawnChunkReplica(
  parent: Ref<unknown>,
  chunkId: string,
  store: ChunkStore,
  leases: HeldLeases,
  serials: SerialBook,
  log: Logger,
  /** Called once each message is done with (answered, or crashed on). */
  finished: () => void,
): Ref<ReplicaMessage> {
  const order = (version: number) => {
    let entry = serials.get(chunkId);
    if (!entry || entry.version !== version) serials.set(chunkId, (entry = { version, serial: 0 }));
    return entry;
  };
  const info = (): ChunkInfo => {
    const found = store.get(chunkId);
    if (!found) throw new OfsError('ENOENT', `chunk ${chunkId} not found on this chunkserver`);
    return found;
  };
  const requireVersion = (version: number): ChunkInfo => {
    const found = info();
    if (found.version !== version) {
      throw new OfsError('ESTALE', `chunk ${chunkId} is at version ${found.version} here, not ${version}`);
    }
    return found;
  };

  /** Writes zeros from `from` to `to` (a hole before a write past the end, or padding). */
  const zeroFill = async (from: number, to: number): Promise<void> => {
    for (let at = from; at < to; at += ZERO_PIECE.length) {
      await store.write(chunkId, at, ZERO_PIECE.subarray(0, Math.min(ZERO_PIECE.length, to - at)));
    }
  };

  const applyLocally = async (mutation: Mutation): Promise<void> => {
    const { length } = info();
    if ('pad' in mutation) return zeroFill(Math.max(length, mutation.offset), mutation.offset + mutation.length);
    if (mutation.offset > length) await zeroFill(length, mutation.offset);
    await store.write(chunkId, mutation.offset, mutation.data);
  };

  /**
   * Resolves once the chunk is synced with the mutation just applied in it.
   * The sync runs beside the actor, which goes on applying the mutations that
   * arrive meanwhile; the store gives all of those one sync after it (group
   * commit), and keeps every meta write of the chunk in order.
   */
  const durableSoon = (): Promise<unknown> => {
    const durable = store.sync(chunkId);
    durable.catch(() => undefined); // awaited by the caller; not an unhandled rejection meanwhile
    return durable;
  };

  const perform = async (msg: ReplicaMessage): Promise<unknown> => {
    // Note: a failed mutation leaves the serial unchanged at a secondary, so
    // every later one fails too until a new lease (a new version) starts over.
    switch (msg.kind) {
      case 'set-version': {
        if (msg.put && !msg.fresh) throw new OfsError('EINVAL', `chunk ${chunkId}: a put's bytes go only with a new chunk's first version`);
        let existing = store.get(chunkId);
        // A new chunk's first version starts it empty: bytes a replica already holds of it come from an
        // earlier try that no journaled version vouches for (a put whose version the master never
        // journaled), and must not pass for the new version's. A late message of an older try (a lower
        // version) finds the newer replica and is refused below, never wipes it.
        if (msg.fresh && existing && existing.length > 0 && existing.version < msg.version) {
          await store.delete(chunkId);
          existing = undefined;
        }
        if (!existing) {
          // Only a brand-new chunk's first version creates it: an empty replica of an older chunk would look current.
          if (!msg.fresh) throw new OfsError('ENOENT', `chunk ${chunkId} is not on this chunkserver; version ${msg.version} of a chunk that is not new cannot create it`);
          await store.create(chunkId, msg.version);
        }
        const updated = info().version === msg.version ? info() : await store.setVersion(chunkId, msg.version);
        order(msg.version).serial = 0;
        if (!msg.put) return updated;
        await store.write(chunkId, 0, msg.put);
        return await store.sync(chunkId);
      }
      case 'commit': {
        const current = requireVersion(msg.version);
        // The replica set and chunk size are the lease's, as the master granted it: never the client's.
        const { secondaries, chunkSize } = leases.check(chunkId, msg.version, Date.now());
        const offset = msg.mode === 'append' ? current.length : msg.offset;
        const padded = offset + msg.data.length > chunkSize;
        if (padded && msg.mode === 'write') {
          throw new OfsError('EINVAL', `a write of ${msg.data.length} bytes at ${offset} passes the end of chunk ${chunkId} (${chunkSize} bytes)`);
        }
        const length = padded ? chunkSize - offset : msg.data.length;
        const ordered: OrderedMutation = { serial: ++order(msg.version).serial, offset, length, padded };
        const forwarded = msg.forward(ordered, secondaries);
        forwarded.catch(() => undefined);
        await applyLocally(padded ? { pad: true, offset, length } : { data: msg.data, offset });
        return { ordered, durable: durableSoon(), forwarded };
      }
      case 'apply': {
        requireVersion(msg.version);
        const book = order(msg.version);
        if (msg.serial !== book.serial + 1) {
          throw new OfsError('EINVAL', `chunk ${chunkId} expected mutation ${book.serial + 1} of version ${msg.version}, got ${msg.serial}`);
        }
        await applyLocally(msg.mutation);
        book.serial = msg.serial;
        return { durable: durableSoon() };
      }
      case 'copy': {
        // A new replica replaces whatever (stale) copy this server had. It takes its version only once every
        // byte is synced: a chunkserver killed mid-copy restarts with an unfinished copy, never a short "current" one.
        if (store.get(chunkId)) await store.delete(chunkId);
        await store.create(chunkId, UNFINISHED_COPY_VERSION);
        try {
          for (let at = 0; ; ) {
            const piece = await msg.fetch(at);
            if (piece.length > 0) await store.write(chunkId, at, piece);
            at += piece.length;
            if (piece.length < COPY_PIECE_BYTES) break;
          }
          await store.sync(chunkId);
          return await store.setVersion(chunkId, msg.version);
        } catch (err) {
          await store.delete(chunkId); // half a replica must not be reported as one
          throw err;
        }
      }
      case 'read': {
        // Past this replica's end is a hole the file's size covers: the reader fills it with zeros.
        // The bytes go into a reply and are dropped once sent: their memory is lent (chunk-store.ts, read-buffers.ts).
        const { length } = requireVersion(msg.version);
        return msg.offset >= length ? Buffer.alloc(0) : store.read(chunkId, msg.offset, msg.length, { lent: true });
      }
      case 'verify':
        return store.get(chunkId) ? store.verify(chunkId) : [];
      case 'delete':
        leases.revoke(chunkId);
        serials.delete(chunkId); // the book holds the chunks this server has, not every one it ever had
        return store.delete(chunkId);
    }
  };

  const handle = crashable(replicaActorName(chunkId), async (state: object, msg: ReplicaMessage) => {
    const outcome = await settle(perform(msg));
    if ('sender' in msg && msg.sender) dispatch(msg.sender as Ref<Result<unknown>>, outcome);
    return state;
  });
  return spawn(
    parent,
    async (state: object, msg: ReplicaMessage) => {
      try {
        return await handle(state, msg);
      } finally {
        finished();
      }
    },
    replicaActorName(chunkId),
    {
      initialState: {},
      // The chunk is on disk; a restarted replica actor reads it from there again.
      onCrash: resetOnCrash(log),
    },
  );
}
