/**
 * The far end of the raw ZeroMQ baseline (bench/data-path.ts): a ROUTER on
 * loopback that counts the bytes it receives and, on an empty message,
 * answers with the count. Prints its endpoint on stdout.
 *   node dist/bench/zmq-sink.js
 */
import { Router } from 'zeromq';

const router = new Router({ receiveHighWaterMark: 64 });
await router.bind('tcp://127.0.0.1:0');
process.stdout.write(`${router.lastEndpoint}\n`);
let bytes = 0;
for await (const [peer, frame] of router) {
  if (frame!.length > 0) {
    bytes += frame!.length;
    continue;
  }
  await router.send([peer!, Buffer.from(String(bytes))]);
  bytes = 0;
}
