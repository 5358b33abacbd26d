import test, { type ExecutionContext } from 'ava';
import { setImmediate as tick } from 'node:timers/promises';
import { nextBatch, StandbyReplicator, type ReplicatorHooks } from '../../src/actors/master/standby-replicator.js';
import { encodeEnvelope, MAX_HEADER_BYTES } from '../../src/transport/envelope.js';
import { OfsError } from '../../src/core/errors.js';
import type { MasterEvent } from '../../src/core/events.js';
import type { RpcClient } from '../../src/transport/rpc-client.js';
import type { Logger } from '../../src/util/logger.js';

/** A standby on the far side of `standby.append`, answered by the test one call at a time. */
class FakeStandby {
  readonly calls: { events: MasterEvent[]; answer: (seq: number) => void; fail: (err: Error) => void }[] = [];
  readonly rpc = {
    call: (_address: string, _type: string, body: { events: MasterEvent[] }) =>
      new Promise((resolve, reject) => this.calls.push({ events: body.events, answer: (seq) => resolve({ body: { seq } }), fail: reject })),
  } as unknown as RpcClient;

  async next(): Promise<FakeStandby['calls'][number]> {
    for (let i = 0; i < 1000 && this.calls.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    const call = this.calls.shift();
    if (!call) throw new Error('the replicator sent the standby nothing within 5 s');
    return call;
  }

  /** Fails every call with `err` until `done()`, then stops (no call waited for past it). */
  async failUntil(done: () => boolean, err: () => Error, deadlineMs = 5_000): Promise<number> {
    const started = Date.now();
    let failed = 0;
    while (!done() && Date.now() - started < deadlineMs) {
      const call = this.calls.shift();
      if (call) {
        call.fail(err());
        failed++;
      } else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return failed;
  }
}

const event = (seq: number): MasterEvent => ({ type: 'DirectoryCreated', seq, path: `/d${seq}`, mtime: 1 });
const log = { info: () => undefined, warn: () => undefined, debug: () => undefined } as unknown as Logger;

function hooks(inSync: string[]): ReplicatorHooks {
  return {
    isRegistered: async () => true,
    onInSync: async () => void inSync.push('in sync'),
    onDetach: async () => undefined,
    onFenced: () => undefined,
  };
}

/** Whether `promise` has settled by now. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true), () => (done = true));
  await tick();
  return done;
}

/** `standby` failing every ask with `err` is detached by `replicator`, not before its 400 ms bound, and `waiting` then goes. */
async function detachedAfterBound(t: ExecutionContext, standby: FakeStandby, detached: string[], waiting: Promise<void>, err: () => OfsError, why: RegExp): Promise<void> {
  t.false(await settled(waiting), 'the acknowledgement waits for the standby');
  const started = Date.now();
  await standby.failUntil(() => detached.length > 0, err);
  t.is(detached.length, 1);
  t.regex(detached[0]!, why);
  t.true(Date.now() - started >= 400, 'not before the bound');
  t.true(await settled(waiting), 'acknowledged without it once detached');
}

/** A replicator of the events after `startSeq` to `standby`, with a 400 ms bound, whose detaches go to `detached`. */
function boundedReplicator(standby: FakeStandby, detached: string[], startSeq = 10, inSync: string[] = []): StandbyReplicator {
  return new StandbyReplicator({ id: 's', address: 'tcp://s' }, startSeq, Promise.resolve(), standby.rpc, { ...hooks(inSync), onDetach: async (why) => void detached.push(why) }, log, undefined, 400);
}

/** As `boundedReplicator`, with the standby in sync (it answered the first ask). */
async function inSyncReplicator(t: ExecutionContext, standby: FakeStandby, detached: string[]): Promise<StandbyReplicator> {
  const replicator = boundedReplicator(standby, detached);
  (await standby.next()).answer(10);
  for (let i = 0; i < 5 && !replicator.isInSync; i++) await tick();
  t.true(replicator.isInSync);
  return replicator;
}

test('while a standby installs, acknowledgements do not wait for it; it is in sync only once it holds every event acknowledged without it', async (t) => {
  const standby = new FakeStandby();
  const inSync: string[] = [];
  const replicator = new StandbyReplicator({ id: 's', address: 'tcp://s' }, 10, Promise.resolve(), standby.rpc, hooks(inSync), log);
  const installing = await standby.next();
  t.deepEqual(installing.events, []);
  t.true(await settled(replicator.replicate([event(11)])), 'acknowledged without the standby');
  installing.fail(new OfsError('EBUSY', 'standby is still installing its snapshot'));
  const catchUp = await standby.next();
  t.deepEqual(catchUp.events.map((e) => e.seq), [11]);
  t.true(await settled(replicator.replicate([event(12)])), 'still acknowledged without it: it is catching up');
  catchUp.answer(11);
  const closing = await standby.next();
  t.deepEqual(inSync, [], 'not in sync: event 12 was acknowledged without it and it does not hold it yet');
  t.false(replicator.isInSync);
  // Within a batch of the active now: new events wait for it, so it can reach the last one acknowledged without it.
  const waiting = replicator.replicate([event(13)]);
  t.false(await settled(waiting), 'event 13 waits for the standby');
  t.deepEqual(closing.events.map((e) => e.seq), [12]);
  closing.answer(12);
  const last = await standby.next();
  t.deepEqual(inSync, ['in sync']);
  t.deepEqual(last.events.map((e) => e.seq), [13]);
  t.false(await settled(waiting));
  last.answer(13);
  await waiting;
  t.true(replicator.isInSync);
});

test('a standby attaching again: the old attachment’s waiters go only once the standby is out of the in-sync set', async (t) => {
  const standby = new FakeStandby();
  const old = new StandbyReplicator({ id: 's', address: 'tcp://s' }, 10, Promise.resolve(), standby.rpc, hooks([]), log);
  (await standby.next()).answer(10);
  await tick();
  t.true(old.isInSync);
  const stuck = old.replicate([event(11)]);
  await standby.next(); // the standby died with this batch unanswered
  let recordOutOfSet!: () => void;
  const outOfSet = new Promise<void>((resolve) => (recordOutOfSet = resolve));
  const successor = new StandbyReplicator({ id: 's', address: 'tcp://s' }, 11, outOfSet, standby.rpc, hooks([]), log);
  old.supersede(successor);
  const early = successor.replicate([event(12)]);
  t.false(await settled(stuck), 'not while ZooKeeper still lists the standby as in sync');
  t.false(await settled(early));
  recordOutOfSet();
  await stuck;
  await early;
  t.pass();
});

test('a superseded attachment that then finds its standby gone leaves the in-sync set and its waiters to the successor', async (t) => {
  const standby = new FakeStandby();
  const detached: string[] = [];
  const goneHooks: ReplicatorHooks = { ...hooks([]), isRegistered: async () => false, onDetach: async (why) => void detached.push(why) };
  const old = new StandbyReplicator({ id: 's', address: 'tcp://s' }, 10, Promise.resolve(), standby.rpc, goneHooks, log);
  (await standby.next()).answer(10);
  await tick();
  const stuck = old.replicate([event(11)]);
  const inFlight = await standby.next();
  let recordOutOfSet!: () => void;
  const outOfSet = new Promise<void>((resolve) => (recordOutOfSet = resolve));
  old.supersede(new StandbyReplicator({ id: 's', address: 'tcp://s' }, 11, outOfSet, standby.rpc, hooks([]), log));
  inFlight.fail(new OfsError('ETIMEDOUT', 'the old incarnation died with the batch'));
  for (let i = 0; i < 5; i++) await tick();
  t.deepEqual(detached, [], 'no detach: it would take the re-attached standby out of the in-sync set');
  t.false(await settled(stuck), 'and no acknowledgement before the successor took the standby out of the set');
  recordOutOfSet();
  await stuck;
});

test('a standby that answers from a state older than the snapshot it attached with is not in sync: the stream waits until it installs, then goes on from the snapshot', async (t) => {
  const standby = new FakeStandby();
  const inSync: string[] = [];
  const replicator = new StandbyReplicator({ id: 's', address: 'tcp://s' }, 20, Promise.resolve(), standby.rpc, hooks(inSync), log);
  // Still at its previous snapshot (seq 15) while it pulls this one: its answer must not count as installed.
  (await standby.next()).answer(15);
  await tick();
  t.false(replicator.isInSync);
  t.deepEqual(inSync, []);
  t.true(await settled(replicator.replicate([event(21)])), 'acknowledged without it meanwhile');
  const retried = await standby.next();
  t.deepEqual(retried.events.map((e) => e.seq), [21], 'nothing dropped: the stream starts right after the snapshot');
  retried.answer(21);
  await tick();
  await tick();
  t.deepEqual(inSync, ['in sync']);
  t.true(replicator.isInSync);
});

test('a resumed standby is sent the events it missed first, and is in sync only once it holds every one up to its attach', async (t) => {
  const standby = new FakeStandby();
  const inSync: string[] = [];
  let read!: (events: MasterEvent[]) => void;
  const missed = new Promise<MasterEvent[]>((resolve) => (read = resolve));
  // The standby holds seq 10; the active was at 5,000 when it attached: 4,990 events come from the journal.
  const replicator = new StandbyReplicator({ id: 's', address: 'tcp://s' }, 5_000, Promise.resolve(), standby.rpc, hooks(inSync), log, {
    heldSeq: 10,
    missed: () => missed,
  });
  t.is(replicator.lag(5_000), 4_990);
  read(Array.from({ length: 4_990 }, (_, i) => event(11 + i)));
  const first = await standby.next();
  t.deepEqual([first.events[0]!.seq, first.events.at(-1)!.seq], [11, 2_010], 'the missed events first, a batch at a time');
  first.answer(2_010);
  const second = await standby.next();
  t.deepEqual(inSync, [], 'not in sync with events up to the attach still missing');
  t.true(await settled(replicator.replicate([event(5_001)])), 'acknowledged without it while it catches up');
  t.deepEqual([second.events[0]!.seq, second.events.at(-1)!.seq], [2_011, 4_010]);
  second.answer(4_010);
  const third = await standby.next();
  t.deepEqual([third.events[0]!.seq, third.events.at(-1)!.seq], [4_011, 5_001], 'then what came after the attach');
  t.deepEqual(inSync, []);
  third.answer(5_001);
  for (let i = 0; i < 5 && !replicator.isInSync; i++) await tick();
  t.deepEqual(inSync, ['in sync']);
});

test('a resumed standby whose missed events cannot be read is detached, to attach again', async (t) => {
  const standby = new FakeStandby();
  const detached: string[] = [];
  const replicator = new StandbyReplicator({ id: 's', address: 'tcp://s' }, 50, Promise.resolve(), standby.rpc, { ...hooks([]), onDetach: async (why) => void detached.push(why) }, log, {
    heldSeq: 10,
    missed: async () => {
      throw new OfsError('ENOENT', 'the journal no longer holds seq 11');
    },
  });
  for (let i = 0; i < 5 && detached.length === 0; i++) await tick();
  t.is(detached.length, 1);
  t.regex(detached[0]!, /could not be read from the journal: the journal no longer holds seq 11/);
  t.false(replicator.isInSync);
  t.is(standby.calls.length, 0, 'nothing was sent to it');
});

test('an in-sync standby that stays registered but cannot be reached (a partition) is detached after a bound, and the waiting acknowledgements go', async (t) => {
  const standby = new FakeStandby();
  const detached: string[] = [];
  const replicator = await inSyncReplicator(t, standby, detached);
  await detachedAfterBound(t, standby, detached, replicator.replicate([event(11)]), () => new OfsError('ETIMEDOUT', 'standby.append got no answer'), /unreachable for \d+ ms/);
});

test('a standby that answers it is installing for longer than the bound (a namespace of a million files) is not detached, and is in sync once installed', async (t) => {
  const standby = new FakeStandby();
  const detached: string[] = [];
  const inSync: string[] = [];
  const replicator = boundedReplicator(standby, detached, 10, inSync);
  t.true(await settled(replicator.replicate([event(11)])), 'acknowledged without the standby while it installs');
  const started = Date.now();
  let asked = 0;
  // One ask times out (the standby's main thread busy loading a piece), the rest are answered: still installing.
  while (Date.now() - started < 1_500) {
    const call = await standby.next();
    asked++;
    call.fail(asked === 1 ? new OfsError('ETIMEDOUT', 'standby.append got no answer') : new OfsError('EBUSY', 'standby is still installing its snapshot'));
  }
  t.deepEqual(detached, [], `answered busy for ${Date.now() - started} ms, past the 400 ms bound for a standby that does not answer`);
  t.true(asked >= 3);
  const installed = await standby.next();
  t.deepEqual(installed.events.map((e) => e.seq), [11]);
  installed.answer(11);
  for (let i = 0; i < 5 && !replicator.isInSync; i++) await tick();
  t.true(replicator.isInSync);
  t.deepEqual(inSync, ['in sync']);
});

test('an in-sync standby that answers it is installing (it restarted and attaches again) is detached after the bound: acknowledgements wait for it', async (t) => {
  const standby = new FakeStandby();
  const detached: string[] = [];
  const replicator = await inSyncReplicator(t, standby, detached);
  const busy = () => new OfsError('EBUSY', 'standby is still installing its snapshot');
  await detachedAfterBound(t, standby, detached, replicator.replicate([event(11)]), busy, /unreachable for \d+ ms: standby is still installing/);
});

test('a standby within a batch of the active (acknowledgements wait for it) that then answers it is attaching is detached after the bound, and the waiting acknowledgements go', async (t) => {
  const standby = new FakeStandby();
  const detached: string[] = [];
  const replicator = boundedReplicator(standby, detached);
  t.true(await settled(replicator.replicate([event(11), event(12)])), 'acknowledged without it: not in sync yet');
  const first = await standby.next();
  first.answer(11); // within a batch now: acknowledgements wait for it, though it is not in sync (it lacks 12)
  standby.calls.unshift(await standby.next()); // its answer taken: the next ask is out
  t.false(replicator.isInSync);
  await detachedAfterBound(t, standby, detached, replicator.replicate([event(13)]), () => new OfsError('EBUSY', 'standby m is attaching'), /unreachable for \d+ ms: standby m is attaching/);
});

test('a standby that answers it is attaching while more than 100,000 events queue for it is detached: the queue stays bounded should its attach never end', async (t) => {
  const standby = new FakeStandby();
  const detached: string[] = [];
  const replicator = boundedReplicator(standby, detached, 0);
  let seq = 0;
  const more = (count: number) => replicator.replicate(Array.from({ length: count }, () => event(++seq)));
  await more(90_000);
  await standby.failUntil(() => false, () => new OfsError('EBUSY', 'attaching'), 1_500);
  t.deepEqual(detached, [], '90,000 queued: held');
  await more(20_000);
  await standby.failUntil(() => detached.length > 0, () => new OfsError('EBUSY', 'attaching'));
  t.is(detached.length, 1);
  t.regex(detached[0]!, /still attaching with 110000 events queued for it/);
});

test('events replicated in one turn (a create, then its chunk’s allocation) go to the standby as one batch, not one round each', async (t) => {
  const standby = new FakeStandby();
  const replicator = new StandbyReplicator({ id: 's', address: 'tcp://s' }, 10, Promise.resolve(), standby.rpc, hooks([]), log);
  (await standby.next()).answer(10);
  await tick();
  t.true(replicator.isInSync);
  const created = replicator.replicate([event(11)]);
  const allocated = replicator.replicate([event(12)]);
  const batch = await standby.next();
  t.deepEqual(batch.events.map((e) => e.seq), [11, 12]);
  batch.answer(12);
  await Promise.all([created, allocated]);
  t.is(standby.calls.length, 0);
});

test('a standby.append holds at most 2,000 events and 512 KiB of them, so events with long paths never make a message its standby would drop', async (t) => {
  const long = (seq: number): MasterEvent => ({ type: 'DirectoryCreated', seq, path: `/${'é'.repeat(1500)}/${seq}`, mtime: 1 });
  const queue = Array.from({ length: 3_000 }, (_, i) => long(i + 1));
  const sent: number[] = [];
  for (let rest = queue; rest.length > 0; ) {
    const batch = nextBatch(rest);
    t.true(encodeEnvelope({ type: 'standby.append', id: 'x', epoch: 1, from: 'm', body: { events: batch } })[0]!.length < MAX_HEADER_BYTES);
    sent.push(...batch.map((e) => e.seq));
    rest = rest.slice(batch.length);
  }
  t.deepEqual(sent, queue.map((e) => e.seq), 'every event once, in order');
  t.is(nextBatch(Array.from({ length: 5_000 }, (_, i) => event(i + 1))).length, 2_000, 'short events: 2,000 a batch');
  const huge = { type: 'DirectoryCreated', seq: 1, path: `/${'x'.repeat(600 * 1024)}`, mtime: 1 } as MasterEvent;
  t.is(nextBatch([huge, event(2)]).length, 1, 'an event past the budget on its own still goes, alone');
});
