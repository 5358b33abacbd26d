import test from 'ava';
import { decodeEnvelope, encodeEnvelope, MAX_HEADER_BYTES } from '../../src/transport/envelope.js';

test('envelope round trip keeps data frames raw', (t) => {
  const data = Buffer.from([0, 1, 2, 255]);
  const frames = encodeEnvelope({ type: 'chunk.write', id: 'x-1', epoch: 3, from: 'c', body: { a: 1 } }, [data]);
  const { envelope, data: back } = decodeEnvelope(frames);
  t.deepEqual(envelope, { type: 'chunk.write', id: 'x-1', epoch: 3, from: 'c', body: { a: 1 } });
  t.true(back[0]!.equals(data));
});

const malformed: [string, Buffer[], RegExp][] = [
  ['no frames', [], /no header frame/],
  ['not JSON', [Buffer.from('{nope')], /header is not JSON/],
  ['missing type', [Buffer.from(JSON.stringify({ id: '1', epoch: 0, from: '', body: {} }))], /malformed envelope.*type/],
  ['negative epoch', [Buffer.from(JSON.stringify({ type: 't', id: '1', epoch: -1, from: '', body: {} }))], /epoch/],
  ['huge header', [Buffer.alloc(2 * 1024 * 1024, 32)], /exceeds/],
];
for (const [name, frames, message] of malformed) {
  test(`decodeEnvelope refuses ${name} with EBADMSG`, (t) => {
    const err = t.throws(() => decodeEnvelope(frames), { message });
    t.is((err as { code?: string }).code, 'EBADMSG');
  });
}

test('encodeEnvelope refuses a header its receiver would drop, naming its size, rather than send it to be lost', (t) => {
  const body = { path: 'x'.repeat(MAX_HEADER_BYTES) };
  const err = t.throws(() => encodeEnvelope({ type: 'reply', id: 'm-7', epoch: 1, from: 'master', body }), { message: /^reply: a header of \d+ bytes exceeds the 1048576-byte limit/ });
  t.is((err as { code?: string }).code, 'EINTERNAL');
  t.notThrows(() => encodeEnvelope({ type: 'reply', id: 'm-8', epoch: 1, from: 'master', body: { path: 'x'.repeat(MAX_HEADER_BYTES - 200) } }));
});
