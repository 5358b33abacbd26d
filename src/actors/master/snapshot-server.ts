import { randomBytes } from 'node:crypto';
import { OfsError } from '../../core/errors.js';
import { namespacePieces } from '../../core/namespace-snapshot.js';
import type { Namespace } from '../../core/namespace.js';

/** A snapshot nobody asked a piece of for this long is dropped (its standby gave up or restarted). */
const IDLE_MS = 30_000;

interface OpenSnapshot {
  standbyId: string;
  pieces: Iterator<unknown>;
  /** Index and body of the piece sent last: a retry of the same index gets it again. */
  index: number;
  last: { piece: unknown; done: boolean } | undefined;
  timer: NodeJS.Timeout;
}

/**
 * The active master's side of a standby's attach: the namespace as it was at
 * the attach (immutable, so it costs only what changes after), handed out a
 * bounded piece at a time while the master goes on serving. One snapshot per
 * standby; a new attach from the same standby replaces its old one.
 */
export class SnapshotServer {
  private readonly open = new Map<string, OpenSnapshot>();

  /** Starts serving `ns` to `standbyId`; returns the snapshot's name for its piece requests. */
  start(standbyId: string, ns: Namespace): string {
    for (const [name, s] of this.open) if (s.standbyId === standbyId) this.drop(name);
    const name = `${standbyId}-${ns.seq}-${randomBytes(6).toString('hex')}`;
    const snapshot: OpenSnapshot = { standbyId, pieces: namespacePieces(ns), index: -1, last: undefined, timer: this.expiry(name) };
    this.open.set(name, snapshot);
    return name;
  }

  /** Piece `index` of snapshot `name`: the next one, or the last one again (its reply was lost). */
  piece(name: string, index: number): { piece: unknown; done: boolean } {
    const snapshot = this.open.get(name);
    if (!snapshot) throw new OfsError('ENOENT', `snapshot ${name} is not being served (expired after ${IDLE_MS} ms idle, or replaced): attach again`);
    clearTimeout(snapshot.timer);
    snapshot.timer = this.expiry(name);
    if (index === snapshot.index && snapshot.last) return snapshot.last;
    if (index !== snapshot.index + 1) {
      throw new OfsError('EINVAL', `snapshot ${name}: piece ${index} asked after piece ${snapshot.index}; pieces come in order: attach again`);
    }
    const next = snapshot.pieces.next();
    snapshot.index = index;
    snapshot.last = next.done ? { piece: null, done: true } : { piece: next.value, done: false };
    return snapshot.last;
  }

  stop(): void {
    for (const name of [...this.open.keys()]) this.drop(name);
  }

  private expiry(name: string): NodeJS.Timeout {
    return setTimeout(() => this.drop(name), IDLE_MS).unref();
  }

  /** A finished snapshot stays until idle too: the reply with its last piece may be lost and asked again. */
  private drop(name: string): void {
    clearTimeout(this.open.get(name)?.timer);
    this.open.delete(name);
  }
}
