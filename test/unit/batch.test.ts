import test from 'ava';
import { joinMessages, MAX_BATCH, MAX_FRAMES_PER_ENVELOPE, splitMessages } from '../../src/transport/batch.js';
import { encodeEnvelope } from '../../src/transport/envelope.js';

const message = (id: string, data: Buffer[] = []) => encodeEnvelope({ type: 'master.locate', id, epoch: 0, from: 'c', body: { path: `/${id}` } }, data);

test('a lone message is sent as it is; a batch splits back into its messages, data frames and all, in order', (t) => {
  const one = message('a', [Buffer.from([1, 2])]);
  t.is(joinMessages([one]), one);
  t.deepEqual(splitMessages(one), [one]);
  const many = [message('a'), message('b', [Buffer.from([7]), Buffer.alloc(0)]), message('c')];
  const joined = joinMessages(many);
  t.is(joined.length, 1 + 1 + 3 + 1, 'the counts, then every frame');
  t.deepEqual(splitMessages(joined), many);
});

const malformed: [string, Buffer[], RegExp][] = [
  ['counts that are not JSON', [Buffer.from('[1,'), Buffer.from('{}')], /frame counts are not JSON/],
  ['a count of zero', [Buffer.from('[0,1]'), Buffer.from('{}')], /frame counts must be/],
  ['a batch of one', [Buffer.from('[1]'), Buffer.from('{}')], /frame counts must be/],
  ['too many envelopes', [Buffer.from(JSON.stringify(Array(MAX_BATCH + 1).fill(1))), ...Array(MAX_BATCH + 1).fill(Buffer.from('{}'))], /frame counts must be/],
  ['counts that add up to more frames than follow', [Buffer.from('[1,2]'), Buffer.from('{}'), Buffer.from('{}')], /add up to 3 frames, but 2 follow/],
  ['counts that add up to fewer', [Buffer.from('[1,1]'), Buffer.from('{}'), Buffer.from('{}'), Buffer.from('{}')], /add up to 2 frames, but 3 follow/],
];
for (const [name, frames, pattern] of malformed) {
  test(`a batch with ${name} is refused with EBADMSG`, (t) => {
    const err = t.throws(() => splitMessages(frames), { message: pattern });
    t.is((err as { code?: string }).code, 'EBADMSG');
  });
}

test('a lone message of more frames than an envelope may have is refused with EBADMSG', (t) => {
  t.is(splitMessages(message('a', Array(MAX_FRAMES_PER_ENVELOPE - 1).fill(Buffer.from('x')))).length, 1);
  const err = t.throws(() => splitMessages(message('a', Array(MAX_FRAMES_PER_ENVELOPE).fill(Buffer.from('x')))), { message: /65 frames, over 64/ });
  t.is((err as { code?: string }).code, 'EBADMSG');
});
