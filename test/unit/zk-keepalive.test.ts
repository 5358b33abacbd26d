import { EventEmitter } from 'node:events';
import test from 'ava';
import { ZkSession, type ZkClient } from '../../src/zk/session.js';

/** Stands in for the native client: counts the keep-alive reads, answers them when told to. */
class FakeClient extends EventEmitter {
  client_id = '1234';
  timeout: number;
  reads: { path: string; at: number }[] = [];
  answerAtOnce = true;
  private unanswered: (() => void)[] = [];

  constructor(timeout: number) {
    super();
    this.timeout = timeout;
  }

  a_exists(path: string, _watch: boolean, cb: (rc: number) => void): void {
    this.reads.push({ path, at: Date.now() });
    if (this.answerAtOnce) setImmediate(() => cb(0));
    else this.unanswered.push(() => cb(0));
  }

  answerAll(): void {
    for (const answer of this.unanswered.splice(0)) answer();
  }

  close(): void {}
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a session reads every tenth of its timeout while connected, one read at a time, and stops when disconnected or closed', async (t) => {
  const client = new FakeClient(1_000);
  const session = new ZkSession(client as unknown as ZkClient, '127.0.0.1:1');
  await sleep(1_050);
  // Every 100 ms: 10 in the second (timers may run late on a busy machine, never early).
  t.true(client.reads.length >= 7 && client.reads.length <= 11, `${client.reads.length} keep-alive reads in 1.05 s`);
  const gaps = client.reads.slice(1).map((r, i) => r.at - client.reads[i]!.at);
  t.true(gaps.every((gap) => gap >= 90), `gaps ${gaps.join(', ')} ms`);

  // An unanswered read is not followed by another.
  client.answerAtOnce = false;
  const before = client.reads.length;
  await sleep(350);
  t.is(client.reads.length, before + 1, 'one read in flight at a time');
  client.answerAll();
  client.answerAtOnce = true;

  // Disconnected: nothing is sent (the native client must not queue requests for later).
  client.emit('connecting');
  t.is(session.state, 'disconnected');
  const disconnectedAt = client.reads.length;
  await sleep(350);
  t.is(client.reads.length, disconnectedAt);
  client.emit('connect');
  await sleep(250);
  t.true(client.reads.length > disconnectedAt, 'reads resume once reconnected');

  await session.close();
  const closedAt = client.reads.length;
  await sleep(350);
  t.is(client.reads.length, closedAt, 'no read after close');
});

test('a session without keep-alive (a client’s: it owns no ephemeral znodes) sends no reads', async (t) => {
  const client = new FakeClient(1_000);
  const session = new ZkSession(client as unknown as ZkClient, '127.0.0.1:1', undefined, false);
  await sleep(350);
  t.is(client.reads.length, 0);
  await session.close();
});

test('a session is sure of itself for its timeout after the send of the last keep-alive the server answered, not after the answer', async (t) => {
  const client = new FakeClient(1_000);
  const session = new ZkSession(client as unknown as ZkClient, '127.0.0.1:1');
  t.teardown(() => session.close());
  // What the session should say now, from when the fake saw the last answered read sent (clock reads differ by a few ms).
  const TOLERANCE_MS = 30;
  const isSureFor = (sentAt: number, what: string) => {
    const expected = sentAt + 1_000 - Date.now();
    t.true(Math.abs(session.confirmedForMs() - expected) < TOLERANCE_MS, `${what}: sure for ${session.confirmedForMs().toFixed(0)} ms, expected ${expected} ms`);
  };
  await sleep(300);
  const answered = client.reads.at(-1)!.at; // answered at once (a setImmediate): wait one turn for it
  await new Promise((resolve) => setImmediate(resolve));
  isSureFor(answered, 'answered at once');

  client.answerAtOnce = false; // the server goes silent (a partition)
  const lastAnswered = client.reads.at(-1)!.at;
  await sleep(600);
  isSureFor(lastAnswered, 'silent for 600 ms');
  // A late answer, 300 ms or more after its read was sent: the server may have heard nothing since the send.
  const lateRead = client.reads.at(-1)!.at;
  await sleep(300);
  client.answerAtOnce = true;
  client.answerAll();
  isSureFor(lateRead, 'a late answer');
  t.true(session.confirmedForMs() < 1_000 - 300 + TOLERANCE_MS, 'counted from the send, not the answer');
});
