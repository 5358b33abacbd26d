import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { OfsClient } from '../../src/client/ofs-client.js';
import type { OfsError } from '../../src/core/errors.js';
import { addUser, initKeys, readRoster } from '../../src/security/keys.js';
import { runOfs, TestCluster, waitFor } from '../helpers/cluster.js';
import { activeMaster, waitForNewActiveWithStandby } from '../helpers/workload.js';

// Owners and modes on a real secure cluster: alice and bob are users with keys of their own (ofs keys add-user).
let cluster: TestCluster;
let alice: OfsClient;
let bob: OfsClient;
let operator: OfsClient;

test.before(async () => {
  cluster = await TestCluster.start({ masters: 2, chunkSize: 64 * 1024, users: [{ name: 'alice', groups: ['staff'] }, { name: 'bob', groups: ['staff'] }] });
  // operator: the operator key's user, the superuser.
  [alice, bob, operator] = await Promise.all([cluster.client('alice'), cluster.client('bob'), cluster.client('operator')]);
});

test.after.always(async () => {
  await Promise.all([alice?.close(), bob?.close(), operator?.close()]);
  await cluster?.stop();
});

/** What the namespace holds, to compare before and after refusals. */
async function digest(): Promise<string> {
  return (await alice.status({ digest: true })).master.digest!;
}

async function eacces(t: ExecutionContext, promise: Promise<unknown>, message: RegExp, what: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: OfsError) => e,
  );
  t.truthy(err, `${what}: it was not refused`);
  t.is(err?.code, 'EACCES', `${what}: ${err?.message}`);
  t.regex(err?.message ?? '', message, what);
}

test.serial('ofs keys add-user made each user a 0600 key and put it in the roster with its groups; the client key is the user client', async (t) => {
  const keys = cluster.keys!;
  const roster = await readRoster(keys);
  t.deepEqual(Object.keys(roster.users ?? {}).sort(), ['alice', 'bob']);
  t.deepEqual(roster.users!.alice!.groups, ['staff']);
  t.deepEqual(await readdir(join(keys, 'users')), ['alice.key', 'bob.key']);
  t.is((await stat(join(keys, 'users', 'alice.key'))).mode & 0o777, 0o600);
  t.is(JSON.parse(await readFile(join(keys, 'users', 'alice.key'), 'utf8')).user, 'alice');
  const again = await runOfs(['keys', 'add-user', 'alice', '--dir', keys]);
  t.is(again.code, 1);
  t.regex(again.stderr, /user alice is in .* already \(EEXIST\)/);
  const role = await runOfs(['keys', 'add-user', 'operator', '--dir', keys]);
  t.regex(role.stderr, /operator is a role's name/);
  const client = await cluster.client();
  t.teardown(() => client.close());
  await client.write('/by-client', 'x');
  t.like(await client.stat('/by-client', { chunks: false }), { owner: 'client', group: 'supergroup', mode: 0o644 });
});

test.serial('alice’s files: bob may not write, delete, rename or create inside them; each refusal names the problem and changes nothing', async (t) => {
  await alice.mkdir('/a');
  await alice.write('/a/public', 'everyone may read this', { mode: 0o644 });
  await alice.write('/a/private', 'alice only', { mode: 0o600 });
  t.like(await alice.stat('/a', { chunks: false }), { type: 'dir', owner: 'alice', group: 'supergroup', mode: 0o755 });
  t.like(await alice.stat('/a/private', { chunks: false }), { owner: 'alice', mode: 0o600 });

  const before = await digest();
  const listing = await alice.list('/a');
  await eacces(t, bob.write('/a/public', 'overwritten'), /^user bob may not write in \/a \(needs wx; owner alice, group supergroup, mode drwxr-xr-x\)$/, 'overwrite');
  await eacces(t, bob.write('/a/public', 'x', { offset: 0 }), /user bob may not write \/a\/public \(needs w; owner alice, group supergroup, mode -rw-r--r--\)$/, 'write in place');
  await eacces(t, bob.append('/a/public', 'record'), /user bob may not write \/a\/public/, 'append');
  await eacces(t, bob.delete('/a/public'), /user bob may not write in \/a/, 'delete');
  await eacces(t, bob.delete('/a', { recursive: true }), /user bob may not (remove or rename|write in) \/a/, 'delete the directory');
  await eacces(t, bob.rename('/a/public', '/stolen'), /user bob may not write in \/a/, 'rename out');
  await eacces(t, bob.rename('/a', '/b-owns-it'), /user bob may not remove or rename \/a \(\/ is sticky/, 'rename alice’s directory in the sticky root');
  await eacces(t, bob.write('/a/new', 'x'), /user bob may not write in \/a/, 'create inside');
  await eacces(t, bob.mkdir('/a/sub'), /user bob may not write in \/a/, 'mkdir inside');
  await eacces(t, bob.mkdir('/a/sub/deeper', { parents: true }), /user bob may not write in \/a/, 'mkdir -p inside');
  await eacces(t, bob.chmod('/a/public', 0o666), /^user bob may not chmod \/a\/public \(only its owner or the superuser may/, 'chmod by a non-owner');
  await eacces(t, bob.chown('/a/public', { owner: 'bob' }), /user bob may not chown \/a\/public/, 'chown by a non-owner');
  await eacces(t, alice.chown('/a/public', { owner: 'bob' }), /user alice may not give bob \/a\/public \(only the superuser may change an owner/, 'chown by the owner');
  await eacces(t, alice.chown('/a/public', { group: 'wheel' }), /alice is not in group wheel/, 'chgrp to a group alice is not in');
  t.is(await digest(), before, 'the namespace is exactly as before');
  t.deepEqual(await alice.list('/a'), listing);

  // Reading: 0644 yes, 0600 no; a stat needs only traverse; listing needs r on the directory.
  t.is((await bob.read('/a/public')).toString(), 'everyone may read this');
  await eacces(t, bob.read('/a/private'), /^user bob may not read \/a\/private \(needs r; owner alice, group supergroup, mode -rw-------\)$/, 'read 0600');
  t.like(await bob.stat('/a/private', { chunks: false }), { size: 10, owner: 'alice' });
  t.deepEqual((await bob.list('/a')).map((e) => e.name), ['private', 'public']);
  await alice.chmod('/a', 0o711);
  await eacces(t, bob.list('/a'), /user bob may not read \/a/, 'list a 0711 directory');
  t.is((await bob.read('/a/public')).toString(), 'everyone may read this', 'x without r: what bob can name he may still read');
  await alice.chmod('/a', 0o700);
  await eacces(t, bob.read('/a/public'), /user bob may not traverse \/a \(needs x/, 'traverse a 0700 directory');
  await alice.chmod('/a', 0o755);
  // The owner may change the group to one of hers.
  await alice.chown('/a/public', { group: 'staff' });
  t.like(await bob.stat('/a/public', { chunks: false }), { group: 'staff' });
});

test.serial('what is private stays private: in the trash once deleted, and in fsck, which counts what bob may not list but does not name it', async (t) => {
  await alice.mkdir('/vault', { mode: 0o700 });
  await alice.write('/vault/names-are-secret', 'x'.repeat(1000), { mode: 0o644 });
  const seenBy = async (c: OfsClient) => (await c.fsck('/')).files.map((f) => f.path);
  t.true((await seenBy(alice)).includes('/vault/names-are-secret'));
  t.false((await seenBy(bob)).includes('/vault/names-are-secret'), 'bob may not list /vault');
  t.is((await bob.fsck('/')).summary.files, (await alice.fsck('/')).summary.files, 'bob still counts every file');
  await alice.delete('/vault/names-are-secret');
  const trash = await operator.list('/.trash');
  const mine = trash.find((e) => e.owner === 'alice');
  t.like(mine, { mode: 0o700 }, 'a deletion’s directory in the trash is its deleter’s, 0700');
  await eacces(t, bob.list('/.trash'), /user bob may not read \/\.trash/, 'nobody lists the trash');
  await eacces(t, bob.read(`/.trash/${mine!.name}/vault/names-are-secret`), /user bob may not/, 'nor reads in another’s deletion');
  await eacces(t, bob.mkdir('/.trash/99999999999999-1/vault', { parents: true }), /user bob may not write in \/\.trash/, 'nor plants one');
  await t.notThrowsAsync(alice.undelete('/vault/names-are-secret'));
});

test.serial('w without r: bob may append to a file and write in it without being able to read it', async (t) => {
  await alice.write('/drop', 'alice\n', { mode: 0o622 });
  const offset = await bob.append('/drop', 'bob\n');
  await bob.write('/drop', 'B', { offset: offset });
  await eacces(t, bob.read('/drop'), /user bob may not read \/drop \(needs r; owner alice, group supergroup, mode -rw--w--w-\)/, 'read');
  t.is((await alice.read('/drop')).toString(), 'alice\nBob\n');
});

test.serial('the operator key is the superuser: it reads, writes, chmods and chowns anything', async (t) => {
  await alice.mkdir('/op');
  await alice.write('/op/f', 'alice’s', { mode: 0o600 });
  await alice.chmod('/op', 0o700);
  t.is((await operator.read('/op/f')).toString(), 'alice’s');
  await operator.write('/op/f', 'the operator’s', { offset: 0 });
  await operator.chown('/op/f', { owner: 'bob', group: 'staff' });
  await operator.chmod('/op', 0o755);
  t.like(await bob.stat('/op/f', { chunks: false }), { owner: 'bob', group: 'staff', mode: 0o600 });
  t.is((await bob.read('/op/f')).toString().slice(0, 5), 'the o', 'bob owns it now');
  await operator.mkdir('/op/by-operator');
  await operator.delete('/op', { recursive: true });
  await t.throwsAsync(alice.stat('/op'), { code: 'ENOENT' });
});

test.serial('the CLI: chmod, chown, ls and stat show and change owners and modes; --user / OFS_USER picks the key; bad input changes nothing', async (t) => {
  await alice.mkdir('/cli');
  const put = await cluster.ofs(['put', '-m', '640', '-', '/cli/f'], Buffer.from('data'), 'alice');
  t.is(put.code, 0, put.stderr);
  const ls = await cluster.ofs(['ls', '/cli'], undefined, 'bob');
  t.is(ls.code, 0, ls.stderr);
  t.regex(ls.stdout.toString(), /^-rw-r----- alice supergroup +4 \S+ \S+ f$/m);
  const json = JSON.parse((await cluster.ofs(['ls', '--json', '/cli'])).stdout.toString()) as { owner: string; group: string; mode: number }[];
  t.like(json[0], { owner: 'alice', group: 'supergroup', mode: 0o640 });
  const statText = await cluster.ofs(['stat', '--no-chunks', '/cli/f'], undefined, 'bob');
  t.regex(statText.stdout.toString(), /mode: +-rw-r----- \(0640\)\nowner: +alice\ngroup: +supergroup/);

  const refused = await cluster.ofs(['chmod', '777', '/cli/f'], undefined, 'bob');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^ofs chmod: user bob may not chmod \/cli\/f \(only its owner or the superuser may; owner alice, group supergroup, mode -rw-r-----\) \(EACCES\)\n$/);
  const badMode = await cluster.ofs(['chmod', 'u+x', '/cli/f'], undefined, 'alice');
  t.is(badMode.code, 2, 'a request that could never work as written');
  t.regex(badMode.stderr, /invalid mode "u\+x": give 1 to 4 octal digits/);
  const badOwner = await cluster.ofs(['chown', 'Alice:', '/cli/f']);
  t.is(badOwner.code, 2);
  t.regex(badOwner.stderr, /invalid user name "Alice"/);
  const unknownUser = await cluster.ofs(['ls', '/cli'], undefined, 'mallory');
  t.is(unknownUser.code, 1);
  t.regex(unknownUser.stderr, /cannot read .*users\/mallory\.key/);
  t.like(await alice.stat('/cli/f', { chunks: false }), { owner: 'alice', mode: 0o640 }, 'unchanged');

  t.is((await cluster.ofs(['chmod', '1750', '/cli'], undefined, 'alice')).code, 0);
  t.regex((await cluster.ofs(['ls', '/'])).stdout.toString(), /^drwxr-x--T alice supergroup +0 \S+ \S+ cli\/$/m);
  const chown = await cluster.ofs(['chown', 'bob:staff', '/cli/f'], undefined, 'operator');
  t.is(chown.code, 0, chown.stderr);
  t.like(await alice.stat('/cli/f', { chunks: false }), { owner: 'bob', group: 'staff' });
});

test.serial('a user added to a running cluster is known without a restart, as soon as it connects', async (t) => {
  const added = await runOfs(['keys', 'add-user', 'carol', '--groups', 'staff', '--dir', cluster.keys!]);
  t.is(added.code, 0, added.stderr);
  const carol = await cluster.client('carol');
  t.teardown(() => carol.close());
  // A server looks at roster.json again at most once a second (when an unknown key comes): a first call may be early.
  await waitFor('carol to be admitted', () => carol.write('/carols', 'hers').then(() => true), 10_000);
  t.like(await bob.stat('/carols', { chunks: false }), { owner: 'carol', mode: 0o644 });
  await eacces(t, bob.delete('/carols'), /user bob may not remove or rename \/carols/, 'the sticky root');
  const cli = await cluster.ofs(['ls', '/carols'], undefined, 'carol');
  t.regex(cli.stdout.toString(), /^-rw-r--r-- carol supergroup/);
});

test.serial('a key the roster does not list is refused at the handshake, whatever user it claims', async (t) => {
  const scratch = await mkdtemp(join(tmpdir(), 'ofs-perms-'));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  // Another keys directory where "alice" has a key of her own: with this cluster's roster beside it, her key is not the listed one.
  const other = join(scratch, 'other');
  await initKeys(other);
  await addUser(other, 'alice', []);
  const forged = join(scratch, 'forged');
  await cp(other, forged, { recursive: true });
  const roster = await readRoster(cluster.keys!);
  const otherRoster = await readRoster(other);
  await writeFile(join(forged, 'roster.json'), JSON.stringify({ ...roster, users: { ...roster.users, alice: otherRoster.users!.alice } }), { mode: 0o600 });
  const impostor = await OfsClient.connect({ zk: cluster.zk, keys: forged, user: 'alice', retryForMs: 5000 });
  t.teardown(() => impostor.close());
  const err = await impostor.list('/').then(() => undefined, (e: OfsError) => e);
  t.is(err?.code, 'EACCES', err?.message);
  t.regex(err?.message ?? '', /does not know this process’s CURVE key/);
});

test.serial('a failover keeps owners and modes: the standby had them', async (t) => {
  await alice.mkdir('/kept', { mode: 0o750 });
  await alice.write('/kept/f', 'kept', { mode: 0o600 });
  await operator.chown('/kept/f', { group: 'staff' });
  await waitForNewActiveWithStandby(alice, 'none');
  const before = await activeMaster(cluster, alice);
  const digestBefore = await digest();
  await cluster.kill(before.processId);
  await waitFor('another master to be active', async () => (await activeMaster(cluster, alice).catch(() => before)).masterId !== before.masterId, 60_000);
  t.is(await digest(), digestBefore, 'the new active master holds the same namespace, owners and modes included');
  t.like(await bob.stat('/kept', { chunks: false }), { owner: 'alice', mode: 0o750 });
  t.like(await alice.stat('/kept/f', { chunks: false }), { owner: 'alice', group: 'staff', mode: 0o600 });
  await eacces(t, bob.read('/kept/f'), /user bob may not traverse \/kept/, 'still refused after the failover');
  t.is((await alice.read('/kept/f')).toString(), 'kept');
});
