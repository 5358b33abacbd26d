import test from 'ava';
import { decideChmod, decideChown, decideChunksUpTo, decideCreate, decideMkdir } from '../../src/core/commands.js';
import type { MasterEvent, UnsequencedEvent } from '../../src/core/events.js';
import { CHUNKS_PER_ENTRY, ENTRIES_PER_PIECE, loadNamespace, namespaceDigest, namespacePieces, NamespaceLoader, PIECE_BYTES } from '../../src/core/namespace-snapshot.js';
import { encodeEnvelope, MAX_HEADER_BYTES } from '../../src/transport/envelope.js';
import { applyAll, emptyNamespace, lookup, type Namespace } from '../../src/core/namespace.js';
import { SHARED_DIRECTORY, SUPERGROUP, SUPERUSER, UNCHECKED } from '../../src/core/permissions.js';

function run(ns: Namespace, events: UnsequencedEvent[]): Namespace {
  return applyAll(ns, events.map((e, i) => ({ ...e, seq: ns.seq + 1 + i }) as MasterEvent));
}

function sample(files = 3): Namespace {
  let ns = run(emptyNamespace, decideMkdir(emptyNamespace, '/a/b', true, 5, UNCHECKED));
  for (let i = 0; i < files; i++) ns = run(ns, decideCreate(ns, `/a/b/f${i}`, false, 6, UNCHECKED));
  ns = run(ns, decideMkdir(ns, '/z', false, 7, UNCHECKED));
  return run(ns, decideChunksUpTo(ns, '/a/b/f0', 2, 0));
}

test('a namespace round-trips through its pieces, each holding at most ENTRIES_PER_PIECE entries', (t) => {
  const ns = sample(ENTRIES_PER_PIECE * 2 + 5);
  const pieces = [...namespacePieces(ns)];
  t.is(pieces.length, 1 + 3, 'a header and three pieces of entries');
  t.true(pieces.slice(1).every((p) => (p as unknown[]).length <= ENTRIES_PER_PIECE));
  const loaded = loadNamespace(pieces);
  t.is(namespaceDigest(loaded), namespaceDigest(ns));
  t.deepEqual(lookup(loaded, '/a/b/f0'), lookup(ns, '/a/b/f0'));
  // A change to the loaded namespace works as to any other.
  t.is(lookup(run(loaded, decideCreate(loaded, '/a/new', false, 9, UNCHECKED)), '/a/new')?.kind, 'file');
});

test('files of many chunks under long paths: pieces stop near PIECE_BYTES, each fits one message to a standby, and the namespace round-trips', (t) => {
  const dir = `/${'d'.repeat(200)}/${'e'.repeat(200)}`;
  let ns = run(emptyNamespace, decideMkdir(emptyNamespace, dir, true, 5, UNCHECKED));
  for (let i = 0; i < 1_500; i++) {
    const path = `${dir}/${'f'.repeat(150)}${i}`;
    ns = run(ns, decideCreate(ns, path, false, 6, UNCHECKED));
    ns = run(ns, decideChunksUpTo(ns, path, 15, 0)); // 16 chunks: a 1 GiB file in 64 MiB chunks
  }
  const pieces = [...namespacePieces(ns)];
  for (const piece of pieces.slice(1)) {
    const json = Buffer.byteLength(JSON.stringify(piece));
    t.true(json <= PIECE_BYTES && (piece as unknown[]).length < ENTRIES_PER_PIECE, `${(piece as unknown[]).length} entries, ${json} bytes`);
    t.true(encodeEnvelope({ type: 'reply', id: 'x', epoch: 1, from: 'm', body: { piece, done: false } })[0]!.length < MAX_HEADER_BYTES);
  }
  t.is(namespaceDigest(loadNamespace(pieces)), namespaceDigest(ns));
});

test('a file of 40,000 chunks (2.5 TiB in 64 MiB chunks) goes in entries of at most CHUNKS_PER_ENTRY chunks: every piece fits one message, and the file, its neighbours and the chunk table load back', (t) => {
  const chunkCount = 40_000;
  let ns = run(emptyNamespace, decideMkdir(emptyNamespace, '/big', false, 5, UNCHECKED));
  for (const name of ['a', 'huge', 'z']) ns = run(ns, decideCreate(ns, `/big/${name}`, false, 6, UNCHECKED));
  ns = run(ns, decideChunksUpTo(ns, '/big/huge', chunkCount - 1, 0));
  ns = run(ns, decideChunksUpTo(ns, '/big/z', 1, 0));
  const pieces = [...namespacePieces(ns)];
  const entries = pieces.slice(1).flat() as unknown[][];
  t.is(entries.filter((e) => e[0] === '/big/huge').length, Math.ceil(chunkCount / CHUNKS_PER_ENTRY), 'its entry and a "+" entry for each further CHUNKS_PER_ENTRY chunks');
  for (const piece of pieces.slice(1)) {
    const header = encodeEnvelope({ type: 'reply', id: 'x', epoch: 1, from: 'm', body: { piece, done: false } })[0]!;
    t.true(header.length < MAX_HEADER_BYTES, `a piece of ${header.length} bytes`);
  }
  const loader = new NamespaceLoader();
  for (const piece of pieces) loader.add(piece);
  const { ns: loaded, table } = loader.finish();
  t.is(namespaceDigest(loaded), namespaceDigest(ns));
  t.deepEqual(lookup(loaded, '/big/huge'), lookup(ns, '/big/huge'));
  t.is(lookup(loaded, '/big/z')?.kind === 'file' && (lookup(loaded, '/big/z') as { chunks: unknown[] }).chunks.length, 2, 'the file after it keeps its own chunks');
  const huge = lookup(ns, '/big/huge') as { chunks: { id: string }[] };
  t.like(table.chunks.get(huge.chunks[chunkCount - 1]!.id), { path: '/big/huge', index: chunkCount - 1 }, 'a chunk of a "+" entry is owned at its index');
  t.like(table.chunks.get(huge.chunks[CHUNKS_PER_ENTRY]!.id), { path: '/big/huge', index: CHUNKS_PER_ENTRY });
  t.is(table.files, 3);
});

test('a "+" entry is refused unless it follows its own file, holds at most CHUNKS_PER_ENTRY chunks, and the snapshot is of format 4', (t) => {
  let ns = run(emptyNamespace, decideCreate(emptyNamespace, '/f', false, 6, UNCHECKED));
  ns = run(ns, decideMkdir(ns, '/g', false, 6, UNCHECKED));
  ns = run(ns, decideChunksUpTo(ns, '/f', CHUNKS_PER_ENTRY + 2, 0));
  const [header, entries] = [...namespacePieces(ns)] as [Record<string, unknown>, unknown[][]];
  const [file, more, dir] = entries as [unknown[], unknown[], unknown[]];
  t.is(more[1], '+');
  const refuse = (pieces: unknown[], message: RegExp) => t.throws(() => loadNamespace(pieces), { code: 'EBADMSG', message });
  refuse([header, [file, dir, more]], /does not follow its file/);
  const other = ['/e', 'f', 1, 0, [], ...file.slice(5)];
  refuse([header, [other, ['/e', '+', more[2]], file, dir]], /follows only a list of 8192 chunks/);
  refuse([header, [file, ['/f', '+', []], dir]], /follows only a list of 8192 chunks, and holds some/);
  refuse([header, [file, more, ['/f', '+', more[2]], dir]], /follows only a list of 8192 chunks/);
  refuse([header, [file, ['/f', '+', [...(more[2] as unknown[]), (more[2] as unknown[])[0]]], dir]], /is listed twice/);
  refuse([header, [dir, ['/g', '+', more[2]]]], /does not follow its file/);
  refuse([header, [more, file, dir]], /does not follow its file/);
  refuse([header, [file, ['/f', '+', [...(more[2] as unknown[]), ...(file[4] as unknown[])]], dir]], /lists 8195 chunks, more than 8192/);
  refuse([header, [[...file.slice(0, 4), [...(file[4] as unknown[]), ...(more[2] as unknown[])], ...file.slice(5)], dir]], /lists 8195 chunks, more than 8192/);
  refuse([{ ...header, format: 3 }, entries], /"\+" entry in a snapshot of format 3/);
  // A format 3 snapshot (before "+" entries) listed a file's chunks in one entry, however many.
  const whole = [[...file.slice(0, 4), [...(file[4] as unknown[]), ...(more[2] as unknown[])], ...file.slice(5)], dir];
  t.is(namespaceDigest(loadNamespace([{ ...header, format: 3 }, whole])), namespaceDigest(ns));
});

test('names of control characters (six bytes each in JSON): pieces still fit one message', (t) => {
  let ns = emptyNamespace;
  let dir = '';
  for (let i = 0; i < 15; i++) {
    dir += `/${'\u0001'.repeat(250)}${i}`;
    ns = run(ns, decideMkdir(ns, dir, false, 5, UNCHECKED));
  }
  for (let i = 0; i < 400; i++) ns = run(ns, decideCreate(ns, `${dir}/${'\u0001'.repeat(200)}${i}`, false, 6, UNCHECKED));
  const pieces = [...namespacePieces(ns)];
  for (const piece of pieces.slice(1)) {
    const header = encodeEnvelope({ type: 'reply', id: 'x', epoch: 1, from: 'm', body: { piece, done: false } })[0]!;
    t.true(header.length < MAX_HEADER_BYTES && Buffer.byteLength(JSON.stringify(piece)) <= PIECE_BYTES, `a piece of ${header.length} bytes`);
  }
  t.is(namespaceDigest(loadNamespace(pieces)), namespaceDigest(ns));
});

test('a malformed snapshot is refused with EBADMSG naming the problem', (t) => {
  const [header, entries] = [...namespacePieces(sample())] as [Record<string, unknown>, unknown[][]];
  const refuse = (pieces: unknown[], message: RegExp) => t.throws(() => loadNamespace(pieces), { code: 'EBADMSG', message });
  refuse([], /no piece came/);
  refuse([{ ...header, seq: -1 }], /header/);
  refuse([{ ...header, recentRequests: undefined }], /header/);
  refuse([header, entries.map((e) => (e[0] === '/a/b/f0' ? [...e.slice(0, 4), [['../../etc', 1]], ...e.slice(5)] : e))], /chunk id/);
  refuse([header, entries.map((e) => (e[0] === '/a/b/f0' ? [...e.slice(0, 5), 'Bad Owner', 'g', 0o644] : e))], /owner or group is not a name/);
  refuse([header, entries.map((e) => (e[0] === '/a' ? [...e.slice(0, 3), 'u', 'g', 0o10000] : e))], /mode is not 0 to 0o7777/);
  refuse([header, entries.map((e) => (e[0] === '/a' ? e.slice(0, 3) : e))], /a directory entry has 6 fields/);
  refuse([header, entries.filter((e) => e[0] !== '/a')], /parent directory did not come before it/);
  refuse([header, [...entries].reverse()], /parent directory|name order/);
  refuse([header, [...entries, entries.at(-1)]], /name order, or a repeat/);
  refuse([header, entries.map((e) => (e[0] === '/a/b/f0' ? [...e.slice(0, 4), [...(e[4] as unknown[]), (e[4] as unknown[])[0]], ...e.slice(5)] : e))], /is listed twice/);
  refuse([header, [['/..', 'd', 1]]], /name order|\.\./);
  refuse([header, new Array(ENTRIES_PER_PIECE + 1).fill(['/x', 'd', 1])], /piece/);
  const f0 = entries.find((e) => e[0] === '/a/b/f0')!;
  refuse([header, entries.map((e) => (e[0] === '/a/b/f1' ? [...e.slice(0, 4), f0[4], ...e.slice(5)] : e))], /belongs to another file too/);
  refuse([{ ...header, nextChunkId: 2 }, entries], /nextChunkId 2 is not above chunk id/);
});

test('a snapshot of format 2, from before permissions, loads: its nodes are the superuser’s with the default modes, its root shared', (t) => {
  const [header, ...pieces] = [...namespacePieces(sample())] as [Record<string, unknown>, ...unknown[][][]];
  const { rootOwnership: _, ...oldHeader } = header;
  const old = pieces.map((piece) => piece.map((e) => (e[1] === 'd' ? e.slice(0, 3) : e.slice(0, 5))));
  const loaded = loadNamespace([{ ...oldHeader, format: 2 }, ...old]);
  t.like(lookup(loaded, '/a'), { owner: SUPERUSER, group: SUPERGROUP, mode: 0o755 });
  t.like(lookup(loaded, '/a/b/f0'), { owner: SUPERUSER, group: SUPERGROUP, mode: 0o644 });
  t.like(loaded.root, SHARED_DIRECTORY);
  t.throws(() => loadNamespace([{ ...oldHeader, format: 2 }, pieces[0]]), { message: /a directory entry has 3 fields/ }, 'format 2 entries have no ownership');
});

test('owners, groups and modes round-trip through the pieces and count in the digest', (t) => {
  const ns = sample();
  const alice = { user: 'alice', groups: ['staff'], superuser: false };
  const changed = run(ns, [...decideChown(ns, '/a/b/f0', 'alice', 'staff', UNCHECKED), ...decideChmod(ns, '/a', 0o1750, UNCHECKED)]);
  const made = run(changed, decideMkdir(changed, '/mine', false, 9, alice, 0o700));
  const loaded = loadNamespace(namespacePieces(made));
  t.like(lookup(loaded, '/a/b/f0'), { owner: 'alice', group: 'staff' });
  t.like(lookup(loaded, '/a'), { mode: 0o1750 });
  t.like(lookup(loaded, '/mine'), { owner: 'alice', group: SUPERGROUP, mode: 0o700 });
  t.is(namespaceDigest(loaded), namespaceDigest(made));
  t.not(namespaceDigest(changed), namespaceDigest(ns));
});
