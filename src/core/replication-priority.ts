/**
 * The order in which re-replication copies chunks (GFS 4.3): the fewest live
 * replicas first, since those are nearest to being lost; among equals, the
 * chunks clients use now (being written, or their file read lately), since a
 * failure there is felt at once.
 */
export interface ReplicationNeed {
  /** Replicas short of the target count. */
  missing: number;
  inUse: boolean;
}

export function byReplicationPriority<C extends ReplicationNeed>(chunks: readonly C[]): C[] {
  return [...chunks].sort((a, b) => b.missing - a.missing || Number(b.inUse) - Number(a.inUse));
}
