import test from 'ava';
import { normalizePath, parentPath, isSameOrBelow } from '../../src/core/paths.js';

const good: [string, string][] = [
  ['/', '/'],
  ['/a', '/a'],
  ['/a/', '/a'],
  ['/a/b.c/d e', '/a/b.c/d e'],
  ['/..a/b..', '/..a/b..'],
];
for (const [input, expected] of good) {
  test(`normalizePath accepts ${JSON.stringify(input)}`, (t) => t.is(normalizePath(input), expected));
}

const bad: [unknown, RegExp][] = [
  ['', /empty/],
  [undefined, /empty/],
  ['a/b', /absolute/],
  ['/a/../b', /'\.\.' are not allowed/],
  ['/a/./b', /not allowed/],
  ['/..', /not allowed/],
  ['/a//b', /empty component/],
  ['/a\0b', /NUL/],
  [`/${'x'.repeat(256)}`, /longer than 255/],
  [`/${'a/'.repeat(2100)}`, /longer than 4096/],
];
for (const [input, message] of bad) {
  test(`normalizePath refuses ${JSON.stringify(input)?.slice(0, 30)}`, (t) => {
    const err = t.throws(() => normalizePath(input), { message });
    t.is((err as { code?: string }).code, 'EINVAL');
  });
}

test('parentPath and isSameOrBelow', (t) => {
  t.is(parentPath('/a/b'), '/a');
  t.is(parentPath('/a'), '/');
  t.true(isSameOrBelow('/a/b', '/a'));
  t.true(isSameOrBelow('/a', '/a'));
  t.false(isSameOrBelow('/ab', '/a'));
  t.true(isSameOrBelow('/x', '/'));
});
