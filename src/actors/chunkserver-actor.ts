import { dispatch, query, spawnStateless, type Ref } from 'nact';
import type { ChunkStore } from '../chunkstore/chunk-store.js';
import { OfsError } from '../core/errors.js';
import type { HeldLeases } from '../core/held-leases.js';
import type { Logger } from '../core/logger.js';
import { spawnChunkReplica, type ReplicaMessage, type ReplicaOutcome, type SerialBook } from './chunk-replica-actor.js';

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
      const name = `chunk-${msg.chunkId}`;
      const replica = (ctx.children.get(name) as Ref<ReplicaMessage> | undefined) ?? spawnChunkReplica(ctx.self, msg.chunkId, store, leases, serials, log);
      dispatch(replica, msg);
    },
    'chunkserver',
  );
}

/** Asks the chunkserver actor to do one chunk operation and unwraps the outcome. */
export async function askReplica<T>(
  chunkserver: Ref<ReplicaMessage>,
  make: (sender: Ref<ReplicaOutcome<T>>) => ReplicaMessage,
): Promise<T> {
  const outcome = (await query(chunkserver, make as never, REPLICA_TIMEOUT_MS)) as ReplicaOutcome<T>;
  if (!outcome.ok) throw new OfsError(outcome.code, outcome.message);
  return outcome.value;
}
