import { ENTRIES_PER_PIECE } from '../../src/core/namespace-snapshot.js';
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, SHARED_DIRECTORY, SUPERGROUP } from '../../src/core/permissions.js';

const owned = (mode: number) => ['client', SUPERGROUP, mode];

export type Shape = 'one-dir' | 'tree';

/**
 * The pieces of a namespace (as a checkpoint or a standby's pull holds them)
 * of `files` one-chunk files in each of `shapes`: /big/fNNNNNNN, or
 * /t/dNNNNN/fNNNNNNN, 100 per directory. Large namespaces for tests and the
 * bench, without building them through the API. Everything is the user
 * `client`'s (the client key's), as if it had written it.
 */
export function* seedPieces(files: number, shapes: readonly Shape[]): Generator<unknown> {
  yield { format: 3, seq: 1, nextChunkId: shapes.length * files + 1, recentRequests: [], rootMtime: 0, rootOwnership: [SHARED_DIRECTORY.owner, SHARED_DIRECTORY.group, SHARED_DIRECTORY.mode] };
  let chunks = 0;
  const file = (path: string) => [path, 'f', 1, 1, [[(++chunks).toString(16).padStart(16, '0'), 1]], ...owned(DEFAULT_FILE_MODE)];
  const dir = (path: string) => [path, 'd', 1, ...owned(DEFAULT_DIR_MODE)];
  let piece: unknown[] = [];
  const add = function* (entry: unknown) {
    piece.push(entry);
    if (piece.length === ENTRIES_PER_PIECE) {
      yield piece;
      piece = [];
    }
  };
  if (shapes.includes('one-dir')) {
    yield* add(dir('/big'));
    for (let n = 0; n < files; n++) yield* add(file(`/big/${seedFileName(n)}`));
  }
  if (shapes.includes('tree')) {
    yield* add(dir('/t'));
    for (let d = 0; d < files / 100; d++) {
      yield* add(dir(seedDir(d)));
      for (let n = d * 100; n < (d + 1) * 100; n++) yield* add(file(`${seedDir(d)}/${seedFileName(n)}`));
    }
  }
  if (piece.length > 0) yield piece;
}

export const seedFileName = (n: number): string => `f${String(n).padStart(7, '0')}`;
export const seedDir = (d: number): string => `/t/d${String(d).padStart(5, '0')}`;
