import { OfsError } from '../core/errors.js';

/** Exit codes: 1 for a failed operation, 2 for a request that could never work as written. */
export function exitCodeFor(err: unknown): number {
  return err instanceof OfsError && err.code === 'EINVAL' ? 2 : 1;
}

/** Prints `ofs <verb>: <message>` (no stack trace: the message names the problem) and exits. */
export function reportAndExit(verb: string) {
  return (err: unknown): never => {
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof OfsError ? ` (${err.code})` : '';
    process.stderr.write(`ofs ${verb}: ${message}${code}\n`);
    if (process.env.OFS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(exitCodeFor(err));
  };
}
