/** Slots (properties, array elements) of the objects reachable from `next` that `before` does not share: what one change copied. */
export function copiedBy(before: unknown, next: unknown): number {
  const old = new Set<unknown>();
  const collect = (v: unknown): void => {
    if (v && typeof v === 'object' && !old.has(v)) {
      old.add(v);
      Object.values(v).forEach(collect);
    }
  };
  collect(before);
  let copied = 0;
  const seen = new Set<unknown>();
  const count = (v: unknown): void => {
    if (!v || typeof v !== 'object' || old.has(v) || seen.has(v)) return;
    seen.add(v);
    copied += Object.keys(v).length;
    Object.values(v).forEach(count);
  };
  count(next);
  return copied;
}
