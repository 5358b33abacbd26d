import { ChunkFile } from './chunk-file.js';

interface OpenFile {
  file: ChunkFile;
  users: number;
}

/**
 * Chunk files in use, kept open between operations so a stream of writes
 * and syncs to one chunk costs no open and close each. At most `max` stay
 * open while idle (the fd limit); one in use is never closed under its user.
 */
export class OpenFiles {
  /** In least-recently-used order: a Map iterates in insertion order, and each use re-inserts. */
  private readonly files = new Map<string, OpenFile>();

  constructor(private readonly max: number) {}

  /** Runs `run` on `path`'s file, opening it with `flags` unless open already ('w+' makes a new file, kept open for what follows). */
  async use<T>(path: string, run: (file: ChunkFile) => Promise<T> | T, flags: 'r+' | 'w+' = 'r+'): Promise<T> {
    let open = this.files.get(path);
    if (open) this.files.delete(path);
    else open = { file: ChunkFile.open(path, flags), users: 0 }; // a file that fails to open is not kept: the next use tries again
    this.files.set(path, open);
    open.users++;
    try {
      return await run(open.file);
    } finally {
      open.users--;
      // Closed (or dropped) while in use: its last user closes it.
      if (open.users === 0 && this.files.get(path) !== open) closeQuietly(open);
      this.closeIdleBeyondMax();
    }
  }

  /** Closes `path`'s file, before the file is deleted or replaced; one in use closes when its last user is done. */
  close(path: string): void {
    const open = this.files.get(path);
    if (!open) return;
    this.files.delete(path);
    if (open.users === 0) closeQuietly(open);
  }

  /** Closes every idle file (a store being closed). */
  closeAll(): void {
    for (const path of [...this.files.keys()]) this.close(path);
  }

  private closeIdleBeyondMax(): void {
    if (this.files.size <= this.max) return;
    for (const [path, open] of this.files) {
      if (this.files.size <= this.max) break;
      if (open.users > 0) continue;
      this.files.delete(path);
      closeQuietly(open);
    }
  }
}

function closeQuietly(open: OpenFile): void {
  try {
    open.file.close();
  } catch {
    // A failed close leaves nothing to do: the fd is released either way.
  }
}
