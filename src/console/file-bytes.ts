import { readPieces, resolveRange } from '../client/file-reader.js';
import { OfsError } from '../core/errors.js';
import type { ReplyOf } from '../transport/protocol.js';
import type { ConsoleHost } from './host.js';

/** The most bytes the viewer asks for at once: enough to recognise and show a file's start, never a whole large file in the master. */
export const PREVIEW_MAX_BYTES = 64 * 1024;
/** How long one piece of a preview keeps trying other replicas (and locating again) before the request fails. */
const PREVIEW_RETRY_MS = 5_000;

export interface FileBytes {
  bytes: Buffer;
  offset: number;
  /** The file's size as the master knows it. */
  size: number;
}

/**
 * Up to PREVIEW_MAX_BYTES of a file, read inside the master process the way
 * a client reads: located by the master's own query, then fetched from the
 * chunkservers (a replica that fails is skipped for another).
 */
export async function readFileBytes(host: ConsoleHost, path: string, offset: number, length: number): Promise<FileBytes> {
  if (length > PREVIEW_MAX_BYTES) throw new OfsError('EINVAL', `the console reads at most ${PREVIEW_MAX_BYTES} bytes at once, not ${length}`);
  const locate = (from: number): Promise<ReplyOf<'master.locate'>> => host.call('master.locate', { path, from });
  const located = await locate(0);
  if (located.type === 'dir') throw new OfsError('EISDIR', `${path} is a directory`);
  const range = resolveRange(located.size, offset, length);
  const pieces: Buffer[] = [];
  for await (const piece of readPieces(host.rpc, located, range, locate, PREVIEW_RETRY_MS)) pieces.push(piece);
  return { bytes: Buffer.concat(pieces), offset: range.offset, size: located.size };
}
