import test from 'ava';
import { normalizePath, parentPath, isSameOrBelow } from '../../src/core/paths.js';

const good: [string, string][] = [
  ['/', '/'],
  ['/a', '/a'],
  ['/a/', '/a'],
  ['/a/b.c/d e', '/a/b.c/d e'],
  ['/..a/b..', '/..a/b..'],
  // Just inside each limit: 255-byte names, 256 components, 4096 bytes.
  [`/${'x'.repeat(255)}`, `/${'x'.repeat(255)}`],
  [`/${'é'.repeat(127)}x`, `/${'é'.repeat(127)}x`],
  ['/d'.repeat(256), '/d'.repeat(256)],
  [`/${'n'.repeat(200)}`.repeat(20) + `/${'z'.repeat(75)}`, `/${'n'.repeat(200)}`.repeat(20) + `/${'z'.repeat(75)}`],
];
for (const [input, expected] of good) {
  test(`normalizePath accepts ${JSON.stringify(input).slice(0, 40)} (${Buffer.byteLength(input)} bytes)`, (t) => t.is(normalizePath(input), expected));
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
  // Just past each limit, counted in UTF-8 bytes: 'é' is two.
  [`/${'x'.repeat(256)}`, /a component is longer than 255 bytes/],
  [`/${'é'.repeat(128)}`, /a component is longer than 255 bytes/],
  ['/d'.repeat(257), /257 components deep, over 256/],
  [`/${'n'.repeat(200)}`.repeat(20) + `/${'z'.repeat(76)}`, /4097 bytes long, over 4096/],
  [`/${'日'.repeat(80)}`.repeat(18), /4338 bytes long, over 4096/],
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
