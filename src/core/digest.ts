import { createHash } from 'node:crypto';

/**
 * A digest of a sequence of values that does not depend on key insertion
 * order, so the active master, its standby and a replay from disk can be
 * compared exactly. One value at a time: a namespace is digested piece by piece.
 */
export function canonicalDigest(values: Iterable<unknown>): string {
  const hash = createHash('sha256');
  for (const value of values) hash.update(canonicalJson(value));
  return hash.digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}
