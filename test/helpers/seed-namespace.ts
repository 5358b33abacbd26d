import { ENTRIES_PER_PIECE } from '../../src/core/namespace-snapshot.js';

export type Shape = 'one-dir' | 'tree';

/**
 * The pieces of a namespace (as a checkpoint or a standby's pull holds them)
 * of `files` one-chunk files in each of `shapes`: /big/fNNNNNNN, or
 * /t/dNNNNN/fNNNNNNN, 100 per directory. Large namespaces for tests and the
 * bench, without building them through the API.
 */
export function* seedPieces(files: number, shapes: readonly Shape[]): Generator<unknown> {
  yield { format: 2, seq: 1, nextChunkId: shapes.length * files + 1, recentRequests: [], rootMtime: 0 };
  let chunks = 0;
  const file = (path: string) => [path, 'f', 1, 1, [[(++chunks).toString(16).padStart(16, '0'), 1]]];
  let piece: unknown[] = [];
  const add = function* (entry: unknown) {
    piece.push(entry);
    if (piece.length === ENTRIES_PER_PIECE) {
      yield piece;
      piece = [];
    }
  };
  if (shapes.includes('one-dir')) {
    yield* add(['/big', 'd', 1]);
    for (let n = 0; n < files; n++) yield* add(file(`/big/${seedFileName(n)}`));
  }
  if (shapes.includes('tree')) {
    yield* add(['/t', 'd', 1]);
    for (let d = 0; d < files / 100; d++) {
      yield* add([seedDir(d), 'd', 1]);
      for (let n = d * 100; n < (d + 1) * 100; n++) yield* add(file(`${seedDir(d)}/${seedFileName(n)}`));
    }
  }
  if (piece.length > 0) yield piece;
}

export const seedFileName = (n: number): string => `f${String(n).padStart(7, '0')}`;
export const seedDir = (d: number): string => `/t/d${String(d).padStart(5, '0')}`;
