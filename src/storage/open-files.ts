import { open, type FileHandle } from 'node:fs/promises';

interface OpenFile {
  handle: Promise<FileHandle>;
  users: number;
}

/**
 * Read-write handles of files in use, kept open between operations so a
 * stream of writes and syncs to one chunk costs no open and close each. At
 * most `max` stay open while idle (the fd limit); one in use is never closed
 * under its user.
 */
export class OpenFiles {
  /** In least-recently-used order: a Map iterates in insertion order, and each use re-inserts. */
  private readonly files = new Map<string, OpenFile>();

  constructor(private readonly max: number) {}

  /** Runs `run` on `path`'s handle, opening it with `flags` unless open already ('w+' makes a new file, kept open for what follows). */
  async use<T>(path: string, run: (handle: FileHandle) => Promise<T>, flags: 'r+' | 'w+' = 'r+'): Promise<T> {
    let file = this.files.get(path);
    if (file) this.files.delete(path);
    else file = { handle: open(path, flags), users: 0 };
    this.files.set(path, file);
    file.users++;
    try {
      let handle: FileHandle;
      try {
        handle = await file.handle;
      } catch (err) {
        // A file that failed to open is not kept: the next use tries again.
        if (this.files.get(path) === file) this.files.delete(path);
        throw err;
      }
      return await run(handle);
    } finally {
      file.users--;
      // Closed (or dropped) while in use: its last user closes it.
      if (file.users === 0 && this.files.get(path) !== file) await closeQuietly(file);
      await this.closeIdleBeyondMax();
    }
  }

  /** Closes `path`'s handle, before the file is deleted or replaced; one in use closes when its last user is done. */
  async close(path: string): Promise<void> {
    const file = this.files.get(path);
    if (!file) return;
    this.files.delete(path);
    if (file.users === 0) await closeQuietly(file);
  }

  /** Closes every idle handle (a store being closed). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.files.keys()].map((path) => this.close(path)));
  }

  private async closeIdleBeyondMax(): Promise<void> {
    if (this.files.size <= this.max) return;
    for (const [path, file] of this.files) {
      if (this.files.size <= this.max) break;
      if (file.users > 0) continue;
      this.files.delete(path);
      await closeQuietly(file);
    }
  }
}

async function closeQuietly(file: OpenFile): Promise<void> {
  await file.handle.then((h) => h.close()).catch(() => undefined);
}
