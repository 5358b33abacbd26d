import test from 'ava';
import { LogLimiter } from '../../src/util/log-limiter.js';

test('at most N lines a second go; the next line that goes counts those that did not', (t) => {
  const limiter = new LogLimiter(3);
  const written: number[] = [];
  for (let i = 0; i < 100; i++) limiter.log(500 + i, (skipped) => written.push(skipped));
  t.deepEqual(written, [0, 0, 0], 'a flood within one second writes 3 lines');
  limiter.log(1500, (skipped) => written.push(skipped));
  t.deepEqual(written, [0, 0, 0, 97], 'the first line of the next second says 97 were not written');
  limiter.log(1600, (skipped) => written.push(skipped));
  t.is(written.at(-1), 0);
});
