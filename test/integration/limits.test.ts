import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { Dealer } from 'zeromq';
import { MAX_BATCH, MAX_FRAMES_PER_ENVELOPE, splitMessages } from '../../src/transport/batch.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/transport/envelope.js';
import { MAX_DATA_FRAME } from '../../src/transport/protocol.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { RpcServer } from '../../src/transport/rpc-server.js';

/**
 * The limits a server puts on what a peer sends, each just under (served) and
 * just over (refused or dropped, the handler never called). A real RpcServer
 * on loopback, the roles' own, with a `chunk.push` handler that counts.
 */
async function server(t: ExecutionContext, options: { maxPeers?: number; peerIdleMs?: number } = {}) {
  const served = { count: 0, bytes: 0 };
  const rpc = await RpcServer.bind('tcp://127.0.0.1:0', {
    id: 'server',
    epoch: () => 1,
    log: pino({ level: 'silent' }),
    handlers: {
      'chunk.push': async (_body, data) => {
        served.count++;
        served.bytes += data[0]?.length ?? 0;
        return { body: {} };
      },
    },
    ...options,
  });
  t.teardown(() => rpc.close());
  return { address: rpc.address, served };
}

let lastId = 0;
const push = (data: Buffer[] = [Buffer.from('x')]) => encodeEnvelope({ type: 'chunk.push', id: `p-${++lastId}`, epoch: 1, from: 't', body: { chunkId: '0'.repeat(16), version: 1, bufferId: 'ab12ab12', chain: [] } }, data);

/** A DEALER of its own; `replies` reads the next message's envelopes, or undefined if none came within `ms`. */
function peer(t: ExecutionContext, address: string) {
  const socket = new Dealer({ linger: 0 });
  let disconnected = false;
  socket.events.on('disconnect', () => (disconnected = true));
  socket.connect(address);
  t.teardown(() => socket.close());
  return {
    send: (frames: Buffer[]) => socket.send(frames),
    disconnected: () => disconnected,
    async replies(ms = 5000): Promise<{ type: string; code?: string; message?: string }[] | undefined> {
      socket.receiveTimeout = ms;
      try {
        return splitMessages(await socket.receive()).map((frames) => {
          const { envelope } = decodeEnvelope(frames);
          return { type: envelope.type, ...(envelope.body as { code?: string; message?: string }) };
        });
      } catch {
        return undefined;
      }
    },
  };
}

test(`message size: a data frame of ${MAX_DATA_FRAME} bytes is served; one byte more and ZeroMQ drops the peer before the handler sees it`, async (t) => {
  const { address, served } = await server(t);
  const under = peer(t, address);
  await under.send(push([Buffer.alloc(MAX_DATA_FRAME, 1)]));
  t.deepEqual(await under.replies(), [{ type: 'reply' }]);
  t.deepEqual(served, { count: 1, bytes: MAX_DATA_FRAME });

  const over = peer(t, address);
  await over.send(push([Buffer.alloc(MAX_DATA_FRAME + 1, 1)]));
  t.is(await over.replies(2000), undefined, 'no reply: the peer was dropped');
  t.true(over.disconnected(), 'the server closed the connection');
  t.deepEqual(served, { count: 1, bytes: MAX_DATA_FRAME }, 'the handler never saw it');

  // The client side: a call whose message is too big fails at once with the connection, not at its timeout.
  const client = new RpcClient('t');
  t.teardown(() => client.close());
  const started = performance.now();
  const err = await t.throwsAsync(client.call(address, 'chunk.push', { chunkId: '0'.repeat(16), version: 1, bufferId: 'ab12ab12', chain: [] }, { data: [Buffer.alloc(MAX_DATA_FRAME + 1)], timeoutMs: 20_000 }));
  t.is((err as { code?: string }).code, 'EUNAVAILABLE');
  t.true(performance.now() - started < 10_000, 'refused well before the call timed out');
});

test(`frames per message: ${MAX_FRAMES_PER_ENVELOPE} are served, one more is refused with EBADMSG`, async (t) => {
  const { address, served } = await server(t);
  const p = peer(t, address);
  await p.send(push(Array.from({ length: MAX_FRAMES_PER_ENVELOPE - 1 }, () => Buffer.from('x'))));
  t.deepEqual(await p.replies(), [{ type: 'reply' }], 'a header and 63 data frames');
  await p.send(push(Array.from({ length: MAX_FRAMES_PER_ENVELOPE }, () => Buffer.from('x'))));
  const [reply] = (await p.replies()) ?? [];
  t.is(reply?.code, 'EBADMSG');
  t.regex(reply?.message ?? '', /65 frames, over 64/);
  t.is(served.count, 1, 'the handler never saw it');
});

test(`envelopes per batch: ${MAX_BATCH} are each served; one more and the whole batch is refused with EBADMSG`, async (t) => {
  const { address, served } = await server(t);
  const p = peer(t, address);
  const batch = (n: number) => {
    const messages = Array.from({ length: n }, () => push());
    return [Buffer.from(JSON.stringify(messages.map((m) => m.length))), ...messages.flat()];
  };
  await p.send(batch(MAX_BATCH));
  let answered = 0;
  while (answered < MAX_BATCH) {
    const replies = await p.replies();
    if (!replies) break;
    t.true(replies.every((r) => r.type === 'reply'));
    answered += replies.length;
  }
  t.is(answered, MAX_BATCH);
  t.is(served.count, MAX_BATCH);
  await p.send(batch(MAX_BATCH + 1));
  const replies = await p.replies();
  t.is(replies?.length, 1);
  t.is(replies?.[0]?.code, 'EBADMSG');
  t.regex(replies?.[0]?.message ?? '', /frame counts must be 2 to 256 integers/);
  t.is(served.count, MAX_BATCH, 'no envelope of it was served');
});

test('open connections: up to the cap every peer is served; past it a new one is refused with EUNAVAILABLE until one goes idle', async (t) => {
  const cap = 8;
  const { address, served } = await server(t, { maxPeers: cap, peerIdleMs: 1500 });
  const peers = Array.from({ length: cap }, () => peer(t, address));
  for (const p of peers) {
    await p.send(push());
    t.deepEqual(await p.replies(), [{ type: 'reply' }]);
  }
  const late = peer(t, address);
  await late.send(push());
  const [refused] = (await late.replies()) ?? [];
  t.is(refused?.code, 'EUNAVAILABLE');
  t.regex(refused?.message ?? '', /serves 8 peers at most/);
  t.is(served.count, cap, 'the late peer was not served');
  // Those already in are still served.
  await peers[0]!.send(push());
  t.deepEqual(await peers[0]!.replies(), [{ type: 'reply' }]);
  // Once the others have been silent for the idle time, there is room again.
  await new Promise((resolve) => setTimeout(resolve, 1600));
  await late.send(push());
  t.deepEqual(await late.replies(), [{ type: 'reply' }]);
  t.is(served.count, cap + 2);
});
