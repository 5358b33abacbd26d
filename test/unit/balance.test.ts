import test from 'ava';
import { pickMove, usageSpread } from '../../src/core/balance.js';

const server = (id: string, used: number, capacity = 100) => ({ id, address: `tcp://h:${id.length}`, used, capacity });

test('spread is fullest minus emptiest fill', (t) => {
  t.is(usageSpread([server('a', 50), server('b', 10)]), 0.4);
  t.is(usageSpread([server('a', 50)]), 0);
});

test('a move goes from the fullest to the emptiest, with a chunk the emptiest lacks', (t) => {
  const servers = [server('full', 80), server('mid', 40), server('empty', 0)];
  const chunks = [
    { chunkId: 'c1', holders: ['full', 'empty'], bytes: 10 },
    { chunkId: 'c2', holders: ['full', 'mid'], bytes: 10 },
  ];
  const move = pickMove(servers, chunks, 10)!;
  t.is(move.chunk.chunkId, 'c2');
  t.is(move.from.id, 'full');
  t.is(move.to.id, 'empty');
});

test('nothing moves when balanced, when the target has no room, or when a move would overshoot', (t) => {
  const chunk = [{ chunkId: 'c', holders: ['a'], bytes: 10 }];
  t.is(pickMove([server('a', 50), server('b', 45)], chunk, 10), undefined, 'balanced');
  t.is(pickMove([server('a', 10, 15), server('b', 95)], [{ chunkId: 'c', holders: ['b'], bytes: 10 }], 10), undefined, 'no room');
  t.is(pickMove([server('a', 30, 100), server('b', 0, 20)], [{ chunkId: 'c', holders: ['a'], bytes: 20 }], 10), undefined, 'overshoot');
});
