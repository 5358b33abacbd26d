import test from 'ava';
import { splitMessages } from '../../src/transport/batch.js';
import { SendQueue } from '../../src/transport/send-queue.js';

/** A socket whose sends complete when the test says so. */
class FakeSocket {
  readonly sent: { frames: Buffer[]; done: () => void; fail: (err: Error) => void }[] = [];
  readonly send = (frames: Buffer[]) => new Promise<void>((done, fail) => this.sent.push({ frames, done, fail }));
}

const msg = (text: string, ...data: Buffer[]) => [Buffer.from(JSON.stringify({ text })), ...data];
const texts = (frames: Buffer[]) => splitMessages(frames).map((m) => JSON.parse(m[0]!.toString()).text);
const tick = () => new Promise((resolve) => setImmediate(resolve));

test('a lone message goes at once as it is; what waits meanwhile goes as one batch, in order', async (t) => {
  const socket = new FakeSocket();
  const queue = new SendQueue(socket.send);
  const first = queue.enqueue(msg('a'));
  await tick();
  t.is(socket.sent.length, 1);
  t.deepEqual(socket.sent[0]!.frames, msg('a'));
  const later = ['b', 'c', 'd'].map((x) => queue.enqueue(msg(x)));
  await tick();
  t.is(socket.sent.length, 1, 'one send in progress at a time');
  socket.sent[0]!.done();
  await first;
  await tick();
  t.is(socket.sent.length, 2);
  t.deepEqual(texts(socket.sent[1]!.frames), ['b', 'c', 'd']);
  socket.sent[1]!.done();
  await Promise.all(later);
});

test('a ROUTER’s batches go one per peer, each peer’s messages in order, behind its identity', async (t) => {
  const socket = new FakeSocket();
  const queue = new SendQueue(socket.send);
  const [p, q] = [Buffer.from('peer-p'), Buffer.from('peer-q')];
  const all = [queue.enqueue(msg('p1'), p), queue.enqueue(msg('q1'), q), queue.enqueue(msg('p2'), p)];
  await tick();
  t.is(socket.sent.length, 1);
  t.deepEqual(socket.sent[0]!.frames[0], p);
  t.deepEqual(texts(socket.sent[0]!.frames.slice(1)), ['p1', 'p2']);
  socket.sent[0]!.done();
  await tick();
  t.deepEqual(socket.sent[1]!.frames[0], q);
  t.deepEqual(texts(socket.sent[1]!.frames.slice(1)), ['q1']);
  socket.sent[1]!.done();
  await Promise.all(all);
});

test('a failed send fails its own batch only; a large message goes alone', async (t) => {
  const socket = new FakeSocket();
  const queue = new SendQueue(socket.send);
  const first = queue.enqueue(msg('a'));
  await tick();
  const big = queue.enqueue(msg('big', Buffer.alloc(1024 * 1024)));
  const small = queue.enqueue(msg('small'));
  socket.sent[0]!.fail(new Error('socket closed'));
  await t.throwsAsync(first, { message: 'socket closed' });
  await tick();
  t.deepEqual(texts(socket.sent[1]!.frames), ['big'], 'a MiB of data fills a batch');
  socket.sent[1]!.done();
  await big;
  await tick();
  t.deepEqual(texts(socket.sent[2]!.frames), ['small']);
  socket.sent[2]!.done();
  await small;
});
