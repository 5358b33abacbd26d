import test from 'ava';
import { classifyChunkFiles, toChunkError } from '../../src/storage/chunk-files.js';
import { OfsError } from '../../src/core/errors.js';

test('classifyChunkFiles sorts temp files from chunk files and ignores the rest', (t) => {
  const { temps, withData, withMeta } = classifyChunkFiles([
    '0123456789abcdef.data',
    '0123456789abcdef.meta',
    'fedcba9876543210.data',
    '0123456789abcdef.meta.tmp',
    '0123456789ABCDEF.data', // not a valid id
    'x.meta',
    'README',
  ]);
  t.deepEqual(temps, ['0123456789abcdef.meta.tmp']);
  t.deepEqual([...withData], ['0123456789abcdef', 'fedcba9876543210']);
  t.deepEqual([...withMeta], ['0123456789abcdef']);
});

const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });
const cases: [thrown: unknown, code: OfsError['code']][] = [
  [errno('ENOSPC'), 'ENOSPC'],
  [errno('EDQUOT'), 'ENOSPC'],
  [errno('EIO'), 'ECORRUPT'],
  [errno('EACCES'), 'EINTERNAL'],
  ['a string', 'EINTERNAL'],
  [new OfsError('EINVAL', 'kept as is'), 'EINVAL'],
];
for (const [thrown, code] of cases) {
  test(`toChunkError maps ${thrown instanceof Error ? (thrown as NodeJS.ErrnoException).code ?? thrown.message : thrown} to ${code}`, (t) => {
    const err = toChunkError(thrown, 'chunk 0123456789abcdef: write at offset 7');
    t.is(err.code, code);
    if (!(thrown instanceof OfsError)) t.regex(err.message, /^chunk 0123456789abcdef: write at offset 7: /);
  });
}
