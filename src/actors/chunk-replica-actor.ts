import { dispatch, spawn, type Ref } from 'nact';
import type { ChunkInfo, ChunkStore } from '../chunkstore/chunk-store.js';
import { OfsError, toOfsError } from '../core/errors.js';

export type ReplicaOutcome<T> = { ok: true; value: T } | { ok: false; code: OfsError['code']; message: string };

export type ReplicaMessage =
  | { kind: 'write'; chunkId: string; version: number; offset: number; data: Buffer; sender: Ref<ReplicaOutcome<ChunkInfo>> }
  | { kind: 'seal'; chunkId: string; version: number; length: number; sender: Ref<ReplicaOutcome<ChunkInfo>> }
  | { kind: 'read'; chunkId: string; version: number; offset: number; length: number; sender: Ref<ReplicaOutcome<Buffer>> }
  | { kind: 'delete'; chunkId: string; sender?: Ref<ReplicaOutcome<void>> };

/** Idle replicas are stopped so a server with a million chunks does not hold a million actors. */
const IDLE_SHUTDOWN_MS = 30_000;

/**
 * One chunk's replica on this chunkserver. Being an actor, it applies the
 * operations on its chunk one at a time in arrival order: the order the
 * upstream replica forwarded them in.
 */
export function spawnChunkReplica(parent: Ref<unknown>, chunkId: string, store: ChunkStore): Ref<ReplicaMessage> {
  const requireVersion = (version: number): ChunkInfo => {
    const info = store.get(chunkId);
    if (!info) throw new OfsError('ENOENT', `chunk ${chunkId} not found on this chunkserver`);
    if (info.version !== version) {
      throw new OfsError('ESTALE', `chunk ${chunkId} is at version ${info.version} here, not ${version}`);
    }
    return info;
  };

  const perform = async (msg: ReplicaMessage): Promise<unknown> => {
    switch (msg.kind) {
      case 'write': {
        // The first bytes of a new chunk create it: allocation happened at the master.
        if (!store.get(chunkId) && msg.offset === 0) await store.create(chunkId, msg.version);
        requireVersion(msg.version);
        return store.write(chunkId, msg.offset, msg.data);
      }
      case 'seal': {
        if (!store.get(chunkId) && msg.length === 0) await store.create(chunkId, msg.version);
        const info = requireVersion(msg.version);
        if (info.length !== msg.length) {
          throw new OfsError('EINVAL', `chunk ${chunkId} holds ${info.length} bytes here, but the writer sent ${msg.length}`);
        }
        return store.sync(chunkId);
      }
      case 'read':
        requireVersion(msg.version);
        return store.read(chunkId, msg.offset, msg.length);
      case 'delete':
        return store.delete(chunkId);
    }
  };

  return spawn(
    parent,
    async (state: null, msg: ReplicaMessage) => {
      let outcome: ReplicaOutcome<unknown>;
      try {
        outcome = { ok: true, value: await perform(msg) };
      } catch (err) {
        const error = toOfsError(err);
        outcome = { ok: false, code: error.code, message: error.message };
      }
      if (msg.sender) dispatch(msg.sender as Ref<ReplicaOutcome<unknown>>, outcome);
      return state;
    },
    `chunk-${chunkId}`,
    { initialState: null, shutdownAfter: IDLE_SHUTDOWN_MS },
  );
}
