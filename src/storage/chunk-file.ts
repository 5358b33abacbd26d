import { closeSync, fdatasync, ftruncate, ftruncateSync, openSync, read, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';

const readAt = promisify(read);
const writeAt = promisify(write);
const truncateTo = promisify(ftruncate);
const datasyncOf = promisify(fdatasync);

/**
 * One of a chunk's files, open. The calls that touch only the page cache and
 * inodes (open, close, a small write into pages no one has written, a new
 * file's length) run on the calling thread; those that can wait for the disk
 * (reads, other writes, truncation down, fdatasync) go to libuv's pool. On
 * this 2-core VM a call handed to the pool cost the caller more than the call
 * itself: a chunkserver's main thread spent 0.07-0.3 ms on each hand-off
 * (waking a pool thread, then being woken), and a small file's new chunk took
 * twelve of them on every replica, a read three. The price: an open whose
 * inode is not cached (a chunk not touched since start-up, its inode evicted)
 * waits for that one read on the calling thread.
 */
export class ChunkFile {
  private constructor(private fd: number) {}

  /** 'w+' makes the file, or empties one already there; 'r+' opens it as it is; 'r' for reading only. */
  static open(path: string, flags: 'r' | 'r+' | 'w+'): ChunkFile {
    return new ChunkFile(openSync(path, flags));
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return readAt(this.openFd(), buf, offset, length, position);
  }

  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    return writeAt(this.openFd(), buf, offset, length, position);
  }

  /**
   * Writes all of `buf` at `position` now, on this thread: only for bytes
   * that land in pages no one has written (past the file's end, or in a hole),
   * which the kernel zeroes instead of reading from the disk.
   */
  writeNew(buf: Uint8Array, position: number): void {
    const fd = this.openFd();
    for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done, position + done);
  }

  /** Cuts the file to `length` (freeing blocks may wait for the disk). */
  async truncate(length: number): Promise<void> {
    return truncateTo(this.openFd(), length);
  }

  /** Sets a new file's length, growing it with a hole: the inode alone. */
  extend(length: number): void {
    ftruncateSync(this.openFd(), length);
  }

  async datasync(): Promise<void> {
    return datasyncOf(this.openFd());
  }

  /** Closes the fd; every call after this fails EBADF, where a bare fd number could reach a file opened since. */
  close(): void {
    const fd = this.openFd();
    this.fd = -1;
    closeSync(fd);
  }

  private openFd(): number {
    if (this.fd < 0) throw Object.assign(new Error('EBADF: the chunk file is closed'), { code: 'EBADF' });
    return this.fd;
  }
}
