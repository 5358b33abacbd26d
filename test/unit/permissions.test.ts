import test from 'ava';
import { authorizeWrite, decideChmod, decideChown, decideCreate, decideDelete, decideMkdir, decideRename, decideUndelete } from '../../src/core/commands.js';
import { OfsError } from '../../src/core/errors.js';
import type { MasterEvent, UnsequencedEvent } from '../../src/core/events.js';
import { decideRequest } from '../../src/core/master-requests.js';
import { applyAll, emptyNamespace, lookup, type Namespace } from '../../src/core/namespace.js';
import { ClusterView } from '../../src/core/cluster-view.js';
import { entryNames } from '../../src/core/dir-entries.js';
import {
  authorize, EXECUTE, formatMode, parseMode, READ, SHARED_DIRECTORY, SUPERGROUP, SUPERUSER, TRASH_DIRECTORY, UNCHECKED, WRITE, type Caller,
} from '../../src/core/permissions.js';

function run(ns: Namespace, events: UnsequencedEvent[]): Namespace {
  return applyAll(ns, events.map((e, i) => ({ ...e, seq: ns.seq + 1 + i }) as MasterEvent));
}

const alice: Caller = { user: 'alice', groups: ['staff'], superuser: false };
const bob: Caller = { user: 'bob', groups: ['staff'], superuser: false };
const carol: Caller = { user: 'carol', groups: [], superuser: false };
const operator: Caller = { user: SUPERUSER, groups: [SUPERGROUP], superuser: true };

/** alice's tree: /a (0755, group staff) holding f (0644), secret (0600) and d (0700). */
function tree(): Namespace {
  let ns = run(emptyNamespace, decideMkdir(emptyNamespace, '/a', false, 1, alice));
  ns = run(ns, decideChown(ns, '/a', undefined, 'staff', alice));
  ns = run(ns, decideCreate(ns, '/a/f', false, 2, alice));
  ns = run(ns, decideCreate(ns, '/a/secret', false, 3, alice, 0o600));
  return run(ns, decideMkdir(ns, '/a/d', false, 4, alice, 0o700));
}

/** Throws EACCES whose message names the user, the path and what is missing. */
function refused(t: import('ava').ExecutionContext, run: () => unknown, message: RegExp, why?: string): void {
  const err = t.throws(run, { instanceOf: OfsError, message }, why);
  t.is(err?.code, 'EACCES');
}

test('parseMode takes 1 to 4 octal digits and nothing else; formatMode prints as ls does', (t) => {
  t.is(parseMode('750'), 0o750);
  t.is(parseMode('1777'), 0o1777);
  t.is(parseMode('0'), 0);
  for (const bad of ['', '8', '12345', 'u+x', '-1', '0x1ff', ' 755']) t.throws(() => parseMode(bad), { code: 'EINVAL', message: /invalid mode/ }, bad);
  t.is(formatMode('dir', 0o755), 'drwxr-xr-x');
  t.is(formatMode('file', 0o640), '-rw-r-----');
  t.is(formatMode('dir', 0o1777), 'drwxrwxrwt');
  t.is(formatMode('dir', 0o1776), 'drwxrwxrwT');
  t.is(formatMode('file', 0o6755), '-rwsr-sr-x');
});

test('new nodes: the creator owns them, in the group of the directory they are made in, with the default modes or the one asked for', (t) => {
  const ns = tree();
  t.like(ns.root, SHARED_DIRECTORY);
  t.like(lookup(ns, '/a'), { owner: 'alice', group: 'staff', mode: 0o755 });
  t.like(lookup(ns, '/a/f'), { owner: 'alice', group: 'staff', mode: 0o644 });
  t.like(lookup(ns, '/a/secret'), { mode: 0o600 });
  const deep = run(ns, decideCreate(ns, '/a/p/q/file', false, 5, alice));
  t.like(lookup(deep, '/a/p'), { owner: 'alice', group: 'staff', mode: 0o755 });
  t.like(lookup(deep, '/a/p/q/file'), { owner: 'alice', group: 'staff', mode: 0o644 });
  const mkdirs = decideMkdir(ns, '/a/x/y', true, 6, alice, 0o750);
  t.deepEqual(mkdirs.map((e) => (e as { mode: number }).mode), [0o755, 0o750], 'parents get the default; the directory asked for, its mode');
});

test('an event from before permissions (no owner, group, mode) replays as the superuser’s with the default mode', (t) => {
  const ns = applyAll(emptyNamespace, [
    { type: 'DirectoryCreated', seq: 1, path: '/old', mtime: 1 },
    { type: 'FileCreated', seq: 2, path: '/old/f', mtime: 2 },
  ]);
  t.like(lookup(ns, '/old'), { owner: SUPERUSER, group: SUPERGROUP, mode: 0o755 });
  t.like(lookup(ns, '/old/f'), { owner: SUPERUSER, group: SUPERGROUP, mode: 0o644 });
  refused(t, () => authorizeWrite(ns, '/old/f', alice), /user alice may not write \/old\/f \(needs w; owner operator/);
});

test('bob in alice’s 0755 directory: may read a 0644 file, not a 0600 one; may not write, create, delete or rename', (t) => {
  const ns = tree();
  t.notThrows(() => authorize(ns.root, '/a/f', bob, { self: READ }));
  refused(t, () => authorize(ns.root, '/a/secret', bob, { self: READ }), /^user bob may not read \/a\/secret \(needs r; owner alice, group staff, mode -rw-------\)$/);
  refused(t, () => authorizeWrite(ns, '/a/f', bob), /^user bob may not write \/a\/f \(needs w; owner alice, group staff, mode -rw-r--r--\)$/);
  refused(t, () => decideCreate(ns, '/a/new', false, 9, bob), /^user bob may not write in \/a \(needs wx; owner alice, group staff, mode drwxr-xr-x\)$/);
  refused(t, () => decideCreate(ns, '/a/f', true, 9, bob), /may not write in \/a/);
  refused(t, () => decideMkdir(ns, '/a/new', false, 9, bob), /may not write in \/a/);
  refused(t, () => decideMkdir(ns, '/a/new/deeper', true, 9, bob), /may not write in \/a /);
  refused(t, () => decideDelete(ns, '/a/f', false, 9, bob), /may not write in \/a/);
  refused(t, () => decideRename(ns, '/a/f', '/g', 9, bob), /may not write in \/a/);
  refused(t, () => decideRename(ns, '/a/f', '/a/g', 9, bob), /may not write in \/a/);
  // Into alice's directory from bob's own: the target's parent counts as well.
  const bobs = run(ns, decideCreate(ns, '/b/own', false, 9, bob));
  refused(t, () => decideRename(bobs, '/b/own', '/a/own', 9, bob), /may not write in \/a/);
  t.notThrows(() => decideRename(bobs, '/b/own', '/b/moved', 9, bob));
  // alice may do all of it.
  t.notThrows(() => decideDelete(ns, '/a/f', false, 9, alice));
  t.notThrows(() => decideRename(ns, '/a/f', '/a/g', 9, alice));
});

test('traverse: x on every directory above the path; stat needs nothing more, listing needs r', (t) => {
  const ns = run(tree(), decideCreate(tree(), '/a/d/inner', false, 5, alice));
  refused(t, () => authorize(ns.root, '/a/d/inner', bob), /^user bob may not traverse \/a\/d \(needs x; owner alice, group staff, mode drwx------\)$/);
  refused(t, () => authorize(ns.root, '/a/d/missing/deeper', bob), /may not traverse \/a\/d/);
  const state = { ns, view: new ClusterView(1000, 3), owners: () => new Map() };
  const settings = { chunkSize: 100, replication: 3 };
  const ask = (type: 'master.locate' | 'master.list', body: object, who: Caller) => decideRequest(state, settings, type, body, 10, who);
  t.notThrows(() => ask('master.locate', { path: '/a/secret', chunks: false }, bob), 'a stat: traverse only');
  refused(t, () => ask('master.locate', { path: '/a/secret' }, bob), /may not read \/a\/secret/);
  t.notThrows(() => ask('master.locate', { path: '/a/f' }, bob));
  t.notThrows(() => ask('master.list', { path: '/a' }, bob));
  t.notThrows(() => ask('master.list', { path: '/a/secret' }, bob), 'a file lists as its own entry: traverse only');
  refused(t, () => ask('master.list', { path: '/a/d' }, bob), /may not read \/a\/d/);
  // Missing paths say ENOENT once the caller may look.
  t.throws(() => ask('master.locate', { path: '/a/nope' }, bob), { code: 'ENOENT' });
});

test('owner, group, others: the first class that matches decides, alone', (t) => {
  let ns = tree();
  ns = run(ns, decideChmod(ns, '/a/f', 0o604, alice));
  refused(t, () => authorize(ns.root, '/a/f', bob, { self: READ }), /may not read/);
  t.notThrows(() => authorize(ns.root, '/a/f', carol, { self: READ }), 'others may, group staff may not');
  ns = run(ns, decideChmod(ns, '/a/f', 0o064, alice));
  refused(t, () => authorize(ns.root, '/a/f', alice, { self: READ }), /user alice may not read/);
  t.notThrows(() => authorize(ns.root, '/a/f', bob, { self: READ | WRITE }));
});

test('the sticky bit: in a shared directory only an entry’s owner or the directory’s may remove or rename it', (t) => {
  let ns = run(emptyNamespace, decideCreate(emptyNamespace, '/alices', false, 1, alice));
  ns = run(ns, decideMkdir(ns, '/bobs-dir', false, 1, bob));
  refused(t, () => decideDelete(ns, '/alices', false, 2, bob), /^user bob may not remove or rename \/alices \(\/ is sticky/);
  refused(t, () => decideRename(ns, '/alices', '/mine', 2, bob), /may not remove or rename \/alices/);
  t.notThrows(() => decideDelete(ns, '/alices', false, 2, alice));
  t.notThrows(() => decideCreate(ns, '/bobs-new', false, 2, bob), 'anyone may make entries in the root');
  ns = run(ns, decideChmod(ns, '/', 0o777, UNCHECKED));
  t.notThrows(() => decideDelete(ns, '/alices', false, 2, bob), 'without the sticky bit, w+x on the parent is enough');
});

test('delete: a non-empty directory needs w and x on itself as well; the trash is the master’s and a deletion its deleter’s alone', (t) => {
  let ns = tree();
  ns = run(ns, decideChmod(ns, '/a', 0o777, alice));
  ns = run(ns, decideCreate(ns, '/a/d/x', false, 5, alice));
  refused(t, () => decideDelete(ns, '/a/d', true, 9, bob), /may not write in \/a\/d/);
  t.notThrows(() => decideDelete(ns, '/a/f', false, 9, bob), 'w+x on /a (0777, not sticky)');
  ns = run(ns, decideDelete(ns, '/a/f', false, 100, alice));
  t.like(lookup(ns, '/.trash'), TRASH_DIRECTORY);
  // Nobody but the master makes entries in the trash: no deletion planted for another user to undelete.
  refused(t, () => decideMkdir(ns, '/.trash/99999999999999-1/a', true, 150, bob), /user bob may not write in \/\.trash/);
  t.throws(() => decideUndelete(ns, '/a/f', 200, bob), { code: 'ENOENT', message: /\/a\/f is not in the trash/ }, 'bob has no deletion of /a/f: alice’s is not his');
  t.notThrows(() => decideUndelete(ns, '/a/f', 200, alice));
  t.notThrows(() => decideUndelete(ns, '/a/f', 200, operator), 'the superuser undeletes anyone’s');
});

test('a deletion stays as private in the trash as it was: its directory there is the deleter’s, 0700', (t) => {
  let ns = tree();
  // /a/d is alice's 0700: bob cannot reach what is in it, before or after it is deleted.
  ns = run(ns, decideCreate(ns, '/a/d/secret', false, 5, alice, 0o644));
  refused(t, () => authorize(ns.root, '/a/d/secret', bob, { self: READ }), /may not/);
  ns = run(ns, decideDelete(ns, '/a/d/secret', false, 100, alice));
  const trash = lookup(ns, '/.trash');
  const [stamp] = trash?.kind === 'dir' ? [...entryNames(trash.children)] : [];
  t.like(lookup(ns, `/.trash/${stamp}`), { owner: 'alice', mode: 0o700 });
  refused(t, () => authorize(ns.root, `/.trash/${stamp}/a/d/secret`, bob, { self: READ }), /may not/);
  refused(t, () => authorize(ns.root, '/.trash', bob, { self: READ }), /may not/, 'nobody lists the trash');
});

test('mkdir -p of a directory there already makes nothing and needs no write permission', (t) => {
  const ns = tree();
  t.deepEqual(decideMkdir(ns, '/a/d', true, 9, operator), []);
  t.deepEqual(decideMkdir(ns, '/a', true, 9, bob), [], 'bob may not write in /, nor in /a, but /a is there');
  refused(t, () => decideMkdir(ns, '/a/d/e', true, 9, bob), /may not/, 'a directory to make: w on /a/d (alice’s 0700) is needed');
});

test('chmod: the owner or the superuser; chown: owner only by the superuser, group by the owner to a group of its own', (t) => {
  const ns = tree();
  refused(t, () => decideChmod(ns, '/a/f', 0o777, bob), /^user bob may not chmod \/a\/f \(only its owner or the superuser may; owner alice/);
  t.deepEqual(decideChmod(ns, '/a/f', 0o600, alice), [{ type: 'ModeChanged', path: '/a/f', mode: 0o600 }]);
  t.deepEqual(decideChmod(ns, '/a/f', 0o1777, operator), [{ type: 'ModeChanged', path: '/a/f', mode: 0o1777 }]);
  refused(t, () => decideChown(ns, '/a/f', 'bob', undefined, alice), /user alice may not give bob \/a\/f \(only the superuser may change an owner/);
  refused(t, () => decideChown(ns, '/a/f', 'bob', undefined, bob), /user bob may not chown \/a\/f \(only its owner or the superuser may/);
  refused(t, () => decideChown(ns, '/a/f', undefined, 'staff', bob), /may not chown \/a\/f \(only its owner/, 'not the owner: even to the group it has');
  refused(t, () => decideChown(ns, '/a/f', undefined, 'wheel', alice), /user alice may not give group wheel \/a\/f \(alice is not in group wheel/);
  t.deepEqual(decideChown(ns, '/a/f', 'alice', 'staff', alice), [{ type: 'OwnerChanged', path: '/a/f', owner: 'alice', group: 'staff' }], 'what it is already: allowed');
  const given = run(ns, decideChown(ns, '/a/f', 'nobody-known', 'wheel', operator));
  t.like(lookup(given, '/a/f'), { owner: 'nobody-known', group: 'wheel', mode: 0o644 }, 'any well-formed name, as HDFS');
  t.like(lookup(run(ns, decideChmod(ns, '/', 0o755, operator)), '/'), { mode: 0o755, owner: SUPERUSER }, 'the root too');
});

test('bad input is refused with EINVAL and no events: a bad mode, a bad name, chown of nothing, a missing path', (t) => {
  const ns = tree();
  t.throws(() => decideChmod(ns, '/a/f', 0o10000, alice), { code: 'EINVAL', message: /invalid mode/ });
  t.throws(() => decideChmod(ns, '/a/f', 1.5, alice), { code: 'EINVAL' });
  t.throws(() => decideChown(ns, '/a/f', 'Alice Smith', undefined, operator), { code: 'EINVAL', message: /invalid user name "Alice Smith"/ });
  t.throws(() => decideChown(ns, '/a/f', undefined, '9x', operator), { code: 'EINVAL', message: /invalid group name/ });
  t.throws(() => decideChown(ns, '/a/f', undefined, undefined, operator), { code: 'EINVAL', message: /needs an owner, a group, or both/ });
  t.throws(() => decideChmod(ns, '/a/nope', 0o600, alice), { code: 'ENOENT' });
  t.throws(() => decideCreate(ns, '/a/g', false, 5, alice, 0o20000), { code: 'EINVAL' });
});

test('the superuser passes every check; a check looks at the path’s nodes only', (t) => {
  let ns = tree();
  ns = run(ns, decideChmod(ns, '/a', 0, alice));
  for (const need of [{ self: READ | WRITE | EXECUTE }, { parent: WRITE | EXECUTE, unlink: true }, { ancestor: WRITE | EXECUTE }]) {
    t.notThrows(() => authorize(ns.root, '/a/d/x/y', operator, need));
  }
  refused(t, () => authorize(ns.root, '/a/f', alice), /user alice may not traverse \/a \(needs x/);
  t.notThrows(() => decideDelete(ns, '/a', true, 9, operator));
  t.notThrows(() => decideChown(ns, '/a', 'bob', 'other', operator));
});
