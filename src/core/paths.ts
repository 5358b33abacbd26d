import { OfsError } from './errors.js';

/** Limits as in POSIX/HDFS: a name fits a directory entry, a path fits PATH_MAX. */
export const MAX_PATH_LENGTH = 4096;
export const MAX_NAME_LENGTH = 255;

/**
 * Checks an absolute OFS path and returns its canonical form (no trailing
 * slash except for the root). Rejects instead of "fixing" anything that could
 * mean two different things: relative paths, `.`/`..`, empty components, NUL.
 */
export function normalizePath(input: unknown): string {
  if (typeof input !== 'string' || input.length === 0) {
    throw new OfsError('EINVAL', 'invalid path: the path is empty');
  }
  const shown = JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input);
  if (input.includes('\0')) throw new OfsError('EINVAL', `invalid path ${shown}: it contains a NUL byte`);
  if (!input.startsWith('/')) throw new OfsError('EINVAL', `invalid path ${shown}: paths must be absolute (start with /)`);
  if (input.length > MAX_PATH_LENGTH) {
    throw new OfsError('EINVAL', `invalid path ${shown}: longer than ${MAX_PATH_LENGTH} characters`);
  }
  if (input === '/') return '/';
  const trimmed = input.endsWith('/') ? input.slice(0, -1) : input;
  for (const name of trimmed.slice(1).split('/')) {
    if (name === '') throw new OfsError('EINVAL', `invalid path ${shown}: it has an empty component (//)`);
    if (name === '.' || name === '..') {
      throw new OfsError('EINVAL', `invalid path ${shown}: '.' and '..' are not allowed`);
    }
    if (name.length > MAX_NAME_LENGTH) {
      throw new OfsError('EINVAL', `invalid path ${shown}: a component is longer than ${MAX_NAME_LENGTH} characters`);
    }
  }
  return trimmed;
}

/** Components of a normalized path: `/a/b` → `['a', 'b']`, `/` → `[]`. */
export function pathComponents(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** True when `path` is `ancestor` itself or lies below it. */
export function isSameOrBelow(path: string, ancestor: string): boolean {
  return ancestor === '/' || path === ancestor || path.startsWith(`${ancestor}/`);
}
