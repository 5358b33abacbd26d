import type { Operation } from './history.js';

/**
 * What the recording workload writes down for each client call on shared
 * names: whole-file writes (create or replace, then the bytes), whole-file
 * reads, stat, list, mkdir, delete, rename. Bytes are kept as their SHA-256.
 */
export type FsCall =
  | { kind: 'write'; path: string; digest: string; size: number; overwrite: boolean }
  | { kind: 'read'; path: string }
  | { kind: 'stat'; path: string }
  | { kind: 'list'; path: string }
  | { kind: 'mkdir'; path: string }
  | { kind: 'delete'; path: string; recursive: boolean }
  | { kind: 'rename'; from: string; to: string };

export interface ListedEntry {
  name: string;
  type: 'file' | 'dir';
  size: number;
}

/** What came back: `digest` for a read, `entries` for a list, `type` and `size` for a stat. */
export type FsResult =
  | { ok: true; digest?: string; entries?: ListedEntry[]; type?: 'file' | 'dir'; size?: number }
  | { ok: false; code: string; message?: string };

export type FsOperation = Operation<FsCall, FsResult>;

/**
 * The error codes that say the master decided the request and refused it:
 * the operation took no effect (a write's may also come from its bytes'
 * phase, after its create took effect: `namespace-model.ts`). Every other error (EUNAVAILABLE, ETIMEDOUT, ...)
 * leaves open whether it took effect, so the operation counts as never
 * answered.
 */
export const DEFINITE_ERRORS: ReadonlySet<string> = new Set(['ENOENT', 'EEXIST', 'EINVAL', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY']);

/** The paths an operation names (a rename names two). */
export function pathsOf(call: FsCall): string[] {
  return call.kind === 'rename' ? [call.from, call.to] : [call.path];
}

const short = (digest: string) => digest.slice(0, 8);

function describeCall(call: FsCall): string {
  switch (call.kind) {
    case 'write':
      return `write ${call.path} ${short(call.digest)} (${call.size} B${call.overwrite ? '' : ', no overwrite'})`;
    case 'delete':
      return `delete ${call.path}${call.recursive ? ' -r' : ''}`;
    case 'rename':
      return `rename ${call.from} → ${call.to}`;
    default:
      return `${call.kind} ${call.path}`;
  }
}

function describeResult(result: FsResult | undefined): string {
  if (!result) return '? (no answer)';
  if (!result.ok) return result.code;
  if (result.digest !== undefined) return `ok ${short(result.digest)}`;
  if (result.entries !== undefined) return `ok [${result.entries.map((e) => `${e.name}${e.type === 'dir' ? '/' : `:${e.size}`}`).join(' ')}]`;
  if (result.type !== undefined) return `ok ${result.type}${result.type === 'file' ? ` ${result.size} B` : ''}`;
  return 'ok';
}

/** One line per operation: client, interval in ms, the call (and which `part` of it), and its answer. */
export function describeFsOperation(op: Operation<FsCall, FsResult>, part = ''): string {
  const until = op.complete === undefined ? '…' : op.complete.toFixed(1);
  return `#${op.id} client ${op.client} [${op.invoke.toFixed(1)}, ${until}] ${describeCall(op.call)}${part} → ${describeResult(op.result)}`;
}
