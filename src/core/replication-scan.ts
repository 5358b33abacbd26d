import type { ChunkOwner, ChunkOwners } from './namespace.js';

/**
 * Which chunks the master looks at for missing replicas on one tick: first
 * those it suspects (their server died, a lease grant missed a replica, a
 * replica was reported corrupt), then the next slice of a walk over every
 * chunk that starts again at the end. GFS scans its chunk space in the
 * background the same way: a tick costs at most `perTick` chunks however many
 * there are, and a chunk nobody suspects is still looked at within
 * chunks / perTick ticks.
 */
export class ReplicationScan {
  private readonly suspects = new Set<string>();
  private walk: Iterator<[string, ChunkOwner]> | undefined;

  constructor(private readonly perTick: number) {}

  suspect(chunkIds: Iterable<string>): void {
    for (const id of chunkIds) this.suspects.add(id);
  }

  /** This tick's chunks: suspects first (at most `perTick` of them), then as many again from the walk. */
  next(owners: ChunkOwners): Map<string, ChunkOwner> {
    const picked = new Map<string, ChunkOwner>();
    for (const id of this.suspects) {
      if (picked.size >= this.perTick) break;
      this.suspects.delete(id);
      const owner = owners.get(id);
      if (owner) picked.set(id, owner);
    }
    let restarted = false;
    for (let taken = 0; taken < this.perTick; ) {
      const step = (this.walk ??= owners.entries()).next();
      if (step.done) {
        this.walk = undefined;
        // Once round per tick at most: a table smaller than a slice is not walked twice.
        if (restarted) break;
        restarted = true;
        continue;
      }
      picked.set(step.value[0], step.value[1]);
      taken++;
    }
    return picked;
  }
}
