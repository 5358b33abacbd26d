import test from 'ava';
import { decideChunksUpTo, decideCreate, decideMkdir } from '../../src/core/commands.js';
import type { MasterEvent, UnsequencedEvent } from '../../src/core/events.js';
import { decodeNamespace, encodeNamespace } from '../../src/core/namespace-schema.js';
import { applyAll, emptyNamespace, type Namespace } from '../../src/core/namespace.js';

function run(ns: Namespace, events: UnsequencedEvent[]): Namespace {
  return applyAll(ns, events.map((e, i) => ({ ...e, seq: ns.seq + 1 + i }) as MasterEvent));
}

function sample(): Namespace {
  let ns = run(emptyNamespace, decideMkdir(emptyNamespace, '/a/b', true, 5));
  ns = run(ns, decideCreate(ns, '/a/b/f', false, 6));
  return run(ns, decideChunksUpTo(ns, '/a/b/f', 2));
}

test('a standby snapshot round-trips: the namespace decoded is the one encoded', (t) => {
  const ns = sample();
  t.deepEqual(decodeNamespace(encodeNamespace(ns)), ns);
});

test('a malformed snapshot is refused with EBADMSG naming the problem', (t) => {
  const ns = sample();
  const bad = (value: unknown) => Buffer.from(JSON.stringify(value));
  t.throws(() => decodeNamespace(undefined), { code: 'EBADMSG', message: /none came/ });
  t.throws(() => decodeNamespace(Buffer.from('{not json')), { code: 'EBADMSG', message: /not JSON/ });
  t.throws(() => decodeNamespace(bad({ ...ns, seq: -1 })), { code: 'EBADMSG', message: /seq/ });
  t.throws(() => decodeNamespace(bad({ ...ns, root: { kind: 'file', size: 0, mtime: 0, chunks: [] } })), { code: 'EBADMSG' });
  const file = (ns.root.children.a as any).children.b.children.f;
  const withBadChunk = structuredClone(ns) as any;
  withBadChunk.root.children.a.children.b.children.f = { ...file, chunks: [{ id: '../../etc', version: 1 }] };
  t.throws(() => decodeNamespace(bad(withBadChunk)), { code: 'EBADMSG', message: /chunk id/ });
  const withoutRequests = structuredClone(ns) as any;
  delete withoutRequests.recentRequests;
  t.throws(() => decodeNamespace(bad(withoutRequests)), { code: 'EBADMSG', message: /recentRequests/ });
});
