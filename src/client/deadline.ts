import { OfsError } from '../core/errors.js';

/**
 * The timeout to give one request made before `deadline` (epoch ms): the
 * time left, at most `capMs`. Throws ETIMEDOUT once the deadline has passed,
 * so that a caller's budget bounds every wait inside it.
 */
export function timeLeft(deadline: number, capMs: number, doing: string): number {
  const left = deadline - Date.now();
  if (left <= 0) throw new OfsError('ETIMEDOUT', `${doing}: the call's retry budget ran out`);
  return Math.min(capMs, left);
}
