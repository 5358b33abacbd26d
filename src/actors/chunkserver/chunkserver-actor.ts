import { dispatch, spawnStateless, type Ref } from 'nact';
import { replicaActorName } from '../../core/chunk-id.js';
import type { ChunkStore } from '../../storage/chunk-store.js';
import type { HeldLeases } from './held-leases.js';
import type { Logger } from '../../util/logger.js';
import { askResult } from '../../util/ask.js';
import type { Result } from '../../util/result.js';
import { spawnChunkReplica, type ReplicaMessage, type SerialBook } from './chunk-replica-actor.js';

/** How long a single chunk operation may take before the caller gives up. */
const REPLICA_TIMEOUT_MS = 60_000;

/**
 * The chunkserver's root actor: routes each chunk operation to that chunk's
 * replica actor, starting it on first use.
 */
export function spawnChunkserverActor(parent: Ref<unknown>, store: ChunkStore, leases: HeldLeases, log: Logger): Ref<ReplicaMessage> {
  const serials: SerialBook = new Map();
  return spawnStateless(
    parent,
    (msg: ReplicaMessage, ctx) => {
      const name = replicaActorName(msg.chunkId);
      const replica = (ctx.children.get(name) as Ref<ReplicaMessage> | undefined) ?? spawnChunkReplica(ctx.self, msg.chunkId, store, leases, serials, log);
      dispatch(replica, msg);
    },
    'chunkserver',
  );
}

/** Asks the chunkserver actor to do one chunk operation and unwraps the outcome. */
export function askReplica<T>(chunkserver: Ref<ReplicaMessage>, make: (sender: Ref<Result<T>>) => ReplicaMessage): Promise<T> {
  return askResult(chunkserver, REPLICA_TIMEOUT_MS)(make);
}
