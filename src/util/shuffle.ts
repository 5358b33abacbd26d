/** Shuffles `items` in place (Fisher-Yates), e.g. to spread clients' reads over a chunk's replicas. */
export function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
