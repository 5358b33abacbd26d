/**
 * A pure model of what docs/consistency.md promises for operations that do
 * not race: a file system as a map from path to bytes or directory. Each
 * operation returns what OFS must answer (a value or an error code).
 */
export type Op =
  | { kind: 'create'; path: string; data: Buffer }
  | { kind: 'writeAt'; path: string; offset: number; data: Buffer }
  | { kind: 'read'; path: string; offset: number; length: number }
  | { kind: 'mkdir'; path: string }
  | { kind: 'delete'; path: string; recursive: boolean }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'list'; path: string };

export type Outcome = { ok: true; value?: string } | { ok: false; code: string };

type Entry = { kind: 'dir' } | { kind: 'file'; data: Buffer };

const parent = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';
const below = (path: string, dir: string) => path.startsWith(`${dir}/`);

export class FsModel {
  private readonly entries = new Map<string, Entry>([['/', { kind: 'dir' }]]);

  /** Makes `root` and its ancestors, as the test does before a run. */
  constructor(root: string) {
    for (let at = root; at !== '/'; at = parent(at)) this.entries.set(at, { kind: 'dir' });
  }

  apply(op: Op): Outcome {
    switch (op.kind) {
      case 'create': {
        const existing = this.entries.get(op.path);
        if (existing?.kind === 'dir') return fail('EISDIR');
        const blocker = this.fileAncestor(op.path);
        if (blocker) return fail('ENOTDIR');
        for (let at = parent(op.path); !this.entries.has(at); at = parent(at)) this.entries.set(at, { kind: 'dir' });
        this.entries.set(op.path, { kind: 'file', data: Buffer.from(op.data) });
        return ok();
      }
      case 'writeAt': {
        const file = this.entries.get(op.path);
        if (!file) return fail('ENOENT');
        if (file.kind === 'dir') return fail('EISDIR');
        if (op.data.length === 0) return ok(); // writing nothing changes nothing, not even the size
        const end = Math.max(file.data.length, op.offset + op.data.length);
        const next = Buffer.alloc(end);
        file.data.copy(next);
        op.data.copy(next, op.offset);
        file.data = next;
        return ok();
      }
      case 'read': {
        const file = this.entries.get(op.path);
        if (!file) return fail('ENOENT');
        if (file.kind === 'dir') return fail('EISDIR');
        return ok(file.data.subarray(Math.min(op.offset, file.data.length), op.offset + op.length).toString('hex'));
      }
      case 'mkdir': {
        if (this.entries.has(op.path)) return fail('EEXIST');
        const up = this.entries.get(parent(op.path));
        if (!up) return fail('ENOENT');
        if (up.kind === 'file') return fail('ENOTDIR');
        this.entries.set(op.path, { kind: 'dir' });
        return ok();
      }
      case 'delete': {
        const entry = this.entries.get(op.path);
        if (!entry) return fail('ENOENT');
        const children = [...this.entries.keys()].filter((p) => below(p, op.path));
        if (entry.kind === 'dir' && children.length > 0 && !op.recursive) return fail('ENOTEMPTY');
        for (const p of [op.path, ...children]) this.entries.delete(p);
        return ok();
      }
      case 'rename': {
        if (!this.entries.has(op.from)) return fail('ENOENT');
        if (op.to === op.from || below(op.to, op.from)) return fail('EINVAL');
        if (this.entries.has(op.to)) return fail('EEXIST');
        const up = this.entries.get(parent(op.to));
        if (!up) return fail('ENOENT');
        if (up.kind === 'file') return fail('ENOTDIR');
        for (const p of [...this.entries.keys()].filter((p) => p === op.from || below(p, op.from))) {
          this.entries.set(op.to + p.slice(op.from.length), this.entries.get(p)!);
          this.entries.delete(p);
        }
        return ok();
      }
      case 'list': {
        const entry = this.entries.get(op.path);
        if (!entry) return fail('ENOENT');
        if (entry.kind === 'file') return ok(`${op.path.slice(op.path.lastIndexOf('/') + 1)}:file:${entry.data.length}`);
        const names = [...this.entries]
          .filter(([p]) => parent(p) === op.path && p !== '/')
          .map(([p, e]) => `${p.slice(op.path.length + 1)}:${e.kind}:${e.kind === 'file' ? e.data.length : 0}`)
          .sort();
        return ok(names.join(','));
      }
    }
  }

  /** A file standing where a directory of `path` should be. */
  private fileAncestor(path: string): string | undefined {
    for (let at = parent(path); at !== '/'; at = parent(at)) if (this.entries.get(at)?.kind === 'file') return at;
    return undefined;
  }
}

const ok = (value?: string): Outcome => ({ ok: true, value });
const fail = (code: string): Outcome => ({ ok: false, code });
