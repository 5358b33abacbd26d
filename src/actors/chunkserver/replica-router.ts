import { dispatch, spawn, stop, type Ref } from 'nact';
import type { ChunkStore } from '../../storage/chunk-store.js';
import type { Logger } from '../../util/logger.js';
import { askResult } from '../../util/ask.js';
import type { Result } from '../../util/result.js';
import type { HeldLeases } from './held-leases.js';
import { spawnChunkReplica, type ReplicaMessage, type SerialBook } from './chunk-replica-actor.js';

/** How long a single chunk operation may take before the caller gives up. */
const REPLICA_TIMEOUT_MS = 60_000;
/** A replica actor idle this long is stopped, so a server with a million chunks does not hold a million actors. */
export const REPLICA_IDLE_MS = 30_000;

interface Running {
  ref: Ref<ReplicaMessage>;
  /** Messages sent to it that it has not finished: it is stopped only at 0, so no two actors ever run one chunk. */
  unfinished: number;
  lastUsed: number;
}

/**
 * Routes each chunk operation to that chunk's replica actor, starting it on
 * first use and stopping it once idle. A plain object, not a routing actor:
 * nact copies an actor's map of children for every message it handles, so a
 * parent routing to the thousands of replicas written lately would pay for
 * all of them on every operation. The replica actors' parent handles no
 * messages; this map is the only way to them, so a stopped one is never sent
 * anything.
 */
export class ReplicaRouter {
  private readonly running = new Map<string, Running>();
  private readonly serials: SerialBook = new Map();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly parent: Ref<unknown>,
    private readonly store: ChunkStore,
    private readonly leases: HeldLeases,
    private readonly log: Logger,
    private readonly idleMs = REPLICA_IDLE_MS,
  ) {
    this.sweeper = setInterval(() => this.stopIdle(Date.now()), Math.max(10, idleMs / 2));
    this.sweeper.unref();
  }

  /** One operation on chunk `chunkId`, answered by its replica actor. */
  ask<T>(chunkId: string, make: (sender: Ref<Result<T>>) => ReplicaMessage): Promise<T> {
    const replica = this.replica(chunkId);
    return askResult(replica.ref, REPLICA_TIMEOUT_MS)(make);
  }

  /** A message that wants no answer (fault injection). */
  send(msg: ReplicaMessage): void {
    dispatch(this.replica(msg.chunkId).ref, msg);
  }

  /** Replica actors running now. */
  get size(): number {
    return this.running.size;
  }

  /** Chunks whose last mutation serial is kept (those mutated since start-up and not deleted). */
  get serialBooks(): number {
    return this.serials.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private replica(chunkId: string): Running {
    let replica = this.running.get(chunkId);
    if (!replica) {
      const entry: Running = { ref: undefined as unknown as Ref<ReplicaMessage>, unfinished: 0, lastUsed: 0 };
      entry.ref = spawnChunkReplica(this.parent, chunkId, this.store, this.leases, this.serials, this.log, () => entry.unfinished--);
      this.running.set(chunkId, (replica = entry));
    }
    replica.unfinished++;
    replica.lastUsed = Date.now();
    return replica;
  }

  private stopIdle(now: number): void {
    for (const [chunkId, replica] of this.running) {
      if (replica.unfinished > 0 || now - replica.lastUsed < this.idleMs) continue;
      this.running.delete(chunkId);
      stop(replica.ref);
    }
  }
}
