import { open } from 'node:fs/promises';
import { OfsError } from '../core/errors.js';
import type { ChunkFile } from './chunk-file.js';
import { writeFully, type ChunkPaths } from './chunk-files.js';
import {
  MAX_META_FILE_BYTES,
  decodeMetaFile,
  encodeMetaFile,
  encodeSlot,
  firstSlot,
  fitsSlot,
  slotOffset,
  type ChunkMeta,
  type DecodedMetaFile,
  type NewestSlot,
} from './chunk-meta.js';
import { writeFileDurably } from './durable-file.js';

/** The newest meta in chunk `id`'s meta file (either format), and which slot holds it. */
export async function readMetaFile(path: string, id: string): Promise<DecodedMetaFile> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > MAX_META_FILE_BYTES) {
      throw new OfsError('ECORRUPT', `chunk ${id} meta file, offset 0: file is ${size} bytes, larger than any meta file (${MAX_META_FILE_BYTES})`);
    }
    return decodeMetaFile(await fh.readFile(), id);
  } finally {
    await fh.close();
  }
}

/**
 * Writes a new chunk's meta file (`file`: just created, so its pages are
 * new), `meta` in its first slot, not synced: the first slot update's
 * fdatasync covers the whole file, and its name is durable once the caller
 * fsyncs the directory.
 */
export function initMetaFile(file: ChunkFile, meta: ChunkMeta, stride: number): NewestSlot {
  const { head, length } = encodeMetaFile(meta, stride);
  file.writeNew(head, 0);
  file.extend(length);
  return firstSlot(stride);
}

/**
 * Writes `meta` into the slot that does not hold the newest meta, then
 * fdatasyncs: a crash before that returns leaves the newest slot as it was,
 * and the meta file's name and size need nothing from the directory. The
 * caller keeps the old NewestSlot if this fails, so the next update goes to
 * the same slot again. `intoHole`: that slot was never written (a file just
 * made), so the write is made on this thread (ChunkFile.writeNew).
 */
export async function writeMetaSlot(fh: ChunkFile, newest: NewestSlot, meta: ChunkMeta, intoHole: boolean): Promise<NewestSlot> {
  // A frame longer than the stride would run over the newest slot.
  if (!fitsSlot(meta, newest.stride)) {
    throw new OfsError('EINTERNAL', `chunk ${meta.id}: meta of length ${meta.length} does not fit the slot stride ${newest.stride}; it needs a rewrite`);
  }
  const next: NewestSlot = { stride: newest.stride, index: newest.index === 0 ? 1 : 0, generation: newest.generation + 1 };
  const frame = encodeSlot(meta, next.generation);
  const at = slotOffset(next.stride, next.index);
  if (intoHole) fh.writeNew(frame, at);
  else await writeFully(fh, frame, at);
  await fh.datasync();
  return next;
}

/**
 * Replaces the meta file whole so that after a crash it holds the old file or
 * the new one, never a mix (temp, fsync, rename, directory fsync): for a
 * format-1 file, or a meta grown past its file's stride. The caller closes
 * any handle on the old file first.
 */
export async function rewriteMetaFile(paths: ChunkPaths, meta: ChunkMeta, stride: number): Promise<NewestSlot> {
  const { head, length } = encodeMetaFile(meta, stride);
  await writeFileDurably(paths.meta, head, paths.metaTemp, length);
  return firstSlot(stride);
}
