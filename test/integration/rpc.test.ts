import test from 'ava';
import { pino } from 'pino';
import { Dealer } from 'zeromq';
import { joinMessages, splitMessages } from '../../src/transport/batch.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/transport/envelope.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { RpcServer } from '../../src/transport/rpc-server.js';

/** A server on loopback whose `master.checkpoint` answers when the test releases it, naming in `path` who asked. */
async function server(t: { teardown: (fn: () => void) => void }) {
  const release: (() => void)[] = [];
  let served = 0;
  const rpc = await RpcServer.bind('tcp://127.0.0.1:0', {
    id: 'server',
    epoch: () => 1,
    log: pino({ level: 'silent' }),
    handlers: {
      'master.checkpoint': async (_body, _data, envelope) => {
        served++;
        await new Promise<void>((resolve) => release.push(resolve));
        return { body: { seq: served, path: `answer to ${envelope.from}` } };
      },
    },
  });
  t.teardown(() => rpc.close());
  return {
    address: rpc.address,
    release: () => release.splice(0).forEach((r) => r()),
    releaseLast: () => release.pop()!(),
    waiting: () => release.length,
  };
}

const until = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!ok()) throw new Error(`timed out waiting for ${what}`);
};

test('clients of one process share a connection: many calls at once each get their own answer, and closing one client fails its calls only', async (t) => {
  const { address, release, waiting } = await server(t);
  const [a, b] = [new RpcClient('client-a'), new RpcClient('client-b')];
  t.teardown(() => b.close());
  const fromA = Array.from({ length: 20 }, () => a.call(address, 'master.checkpoint', {}));
  const fromB = Array.from({ length: 20 }, () => b.call(address, 'master.checkpoint', {}));
  await until('all 40 calls to reach the server', () => waiting() === 40);
  a.close();
  for (const call of fromA) await t.throwsAsync(call, { message: /this client was closed/ });
  release();
  const answers = await Promise.all(fromB);
  t.true(answers.every((r) => r.body.path === 'answer to client-b'));
  // After its sibling closed, b still calls through the shared connection.
  const again = b.call(address, 'master.checkpoint', {});
  await until('the next call', () => waiting() === 1);
  release();
  t.is((await again).body.path, 'answer to client-b');
});

test('a server answers each envelope of a hand-built batch, and a malformed batch gets an error that names the problem', async (t) => {
  const { address, release, waiting } = await server(t);
  const dealer = new Dealer({ linger: 0 });
  t.teardown(() => dealer.close());
  dealer.connect(address);
  const request = (id: string) => encodeEnvelope({ type: 'master.checkpoint', id, epoch: 0, from: 'raw', body: {} });
  await dealer.send(joinMessages([request('r1'), request('r2'), request('r3')]));
  await until('three requests at the server', () => waiting() === 3);
  release();
  const ids: string[] = [];
  while (ids.length < 3) {
    // Replies ready together may come back as one batch too.
    for (const reply of splitMessages(await dealer.receive())) ids.push(decodeEnvelope(reply).envelope.id);
  }
  t.deepEqual(ids.sort(), ['r1', 'r2', 'r3']);

  await dealer.send([Buffer.from('[1,5]'), ...request('r4')]);
  const { envelope } = decodeEnvelope(await dealer.receive());
  t.is(envelope.type, 'error');
  t.regex((envelope.body as { message: string }).message, /malformed batch: its counts add up to 6 frames, but 1 follow/);
  t.is(waiting(), 0, 'nothing of the malformed batch was handled');
});

test('a call that times out while the peer answers others fails alone, and a client that resets a peer abandons only its own calls', async (t) => {
  const { address, release, releaseLast, waiting } = await server(t);
  const [a, b] = [new RpcClient('client-a'), new RpcClient('client-b')];
  t.teardown(() => [a, b].forEach((c) => c.close()));
  const slow = b.call(address, 'master.checkpoint', {});
  const impatient = a.call(address, 'master.checkpoint', {}, { timeoutMs: 400 });
  const quick = b.call(address, 'master.checkpoint', {});
  await until('three calls at the server', () => waiting() === 3);
  releaseLast();
  t.is((await quick).body.path, 'answer to client-b', 'the peer answers');
  await t.throwsAsync(impatient, { message: /got no answer within 400 ms/ });
  // b's call on the same connection is still waiting, not failed with the impatient one.
  const abandoned = a.call(address, 'master.checkpoint', {});
  await until('a’s next call at the server', () => waiting() === 3);
  a.reset(address, 'another master was elected');
  await t.throwsAsync(abandoned, { message: /abandoned: another master was elected/ });
  release();
  t.is((await slow).body.path, 'answer to client-b');
});

test('a reply too big for one message comes back as an error that says so, at once, not as a call that times out', async (t) => {
  let calls = 0;
  const rpc = await RpcServer.bind('tcp://127.0.0.1:0', {
    id: 'server',
    epoch: () => 1,
    log: pino({ level: 'silent' }),
    // The first answer is 2 MiB of JSON; the next is small.
    handlers: { 'master.checkpoint': async () => ({ body: { seq: ++calls, path: 'p'.repeat(calls === 1 ? 2 * 1024 * 1024 : 1) } }) },
  });
  t.teardown(() => rpc.close());
  const client = new RpcClient('client');
  t.teardown(() => client.close());
  const started = performance.now();
  const err = await t.throwsAsync(client.call(rpc.address, 'master.checkpoint', {}, { timeoutMs: 20_000 }), { message: /^the reply to master\.checkpoint: a header of \d+ bytes exceeds the 1048576-byte limit of one message/ });
  t.is((err as { code?: string }).code, 'EINTERNAL');
  t.true(performance.now() - started < 10_000, 'answered, not timed out');
  // The connection still carries the next call.
  t.is((await client.call(rpc.address, 'master.checkpoint', {})).body.seq, 2);
});
