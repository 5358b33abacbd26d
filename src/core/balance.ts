/**
 * Rebalancing (GFS 4.3): moving replicas from fuller to emptier chunkservers
 * so disk use evens out. Pure planning; the replication manager does the
 * moving, one chunk at a time.
 */
export interface ServerUse {
  id: string;
  address: string;
  used: number;
  capacity: number;
}

/** Below this difference in fill (fraction of capacity) between fullest and emptiest, nothing moves. */
export const BALANCED_SPREAD = 0.1;

export function fill(server: ServerUse): number {
  return server.capacity > 0 ? server.used / server.capacity : 1;
}

/** Fullest minus emptiest fill, 0 to 1. */
export function usageSpread(servers: readonly ServerUse[]): number {
  if (servers.length < 2) return 0;
  const fills = servers.map(fill);
  return Math.max(...fills) - Math.min(...fills);
}

/**
 * One move that narrows the spread: a chunk on the fullest server that the
 * emptiest lacks, if the spread is above `threshold` and the move does not
 * simply swap which one is fuller.
 */
export function pickMove<C extends { chunkId: string; holders: string[]; bytes: number }>(
  servers: readonly ServerUse[],
  chunks: readonly C[],
  chunkSize: number,
  threshold = BALANCED_SPREAD,
): { chunk: C; from: ServerUse; to: ServerUse } | undefined {
  if (usageSpread(servers) <= threshold) return undefined;
  const byFill = [...servers].sort((a, b) => fill(b) - fill(a));
  const from = byFill[0]!;
  const to = byFill.at(-1)!;
  if (to.capacity - to.used < chunkSize) return undefined;
  const chunk = chunks.find((c) => c.holders.includes(from.id) && !c.holders.includes(to.id));
  if (!chunk) return undefined;
  const after = { from: (from.used - chunk.bytes) / from.capacity, to: (to.used + chunk.bytes) / to.capacity };
  return after.to <= after.from + threshold ? { chunk, from, to } : undefined;
}
