import { OfsError } from './errors.js';

/**
 * Limits as in POSIX: a name fits a directory entry (NAME_MAX), a path fits
 * PATH_MAX, both in UTF-8 bytes (what a path costs on the wire, in the
 * journal and in memory; a character may take four). A depth bound on top
 * keeps a tree walk's depth small whatever the names: 4096 bytes could
 * otherwise nest 2,048 directories.
 */
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_DEPTH = 256;

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
  const bytes = Buffer.byteLength(input);
  if (bytes > MAX_PATH_BYTES) {
    throw new OfsError('EINVAL', `invalid path ${shown}: ${bytes} bytes long, over ${MAX_PATH_BYTES} (UTF-8)`);
  }
  if (input === '/') return '/';
  const trimmed = input.endsWith('/') ? input.slice(0, -1) : input;
  const names = trimmed.slice(1).split('/');
  if (names.length > MAX_PATH_DEPTH) {
    throw new OfsError('EINVAL', `invalid path ${shown}: ${names.length} components deep, over ${MAX_PATH_DEPTH}`);
  }
  for (const name of names) {
    if (name === '') throw new OfsError('EINVAL', `invalid path ${shown}: it has an empty component (//)`);
    if (name === '.' || name === '..') {
      throw new OfsError('EINVAL', `invalid path ${shown}: '.' and '..' are not allowed`);
    }
    if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
      throw new OfsError('EINVAL', `invalid path ${shown}: a component is longer than ${MAX_NAME_BYTES} bytes (UTF-8)`);
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
