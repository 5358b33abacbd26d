import test from 'ava';
import { EpochCheck } from '../../src/zk/epoch-check.js';

/** A stand-in for ZooKeeper's epoch: reads are counted, and each waits until `release`d when `hold` is set. */
function zookeeper(epoch: number) {
  const zk = {
    epoch,
    reads: 0,
    hold: false,
    waiting: [] as (() => void)[],
    read: async () => {
      zk.reads++;
      const at = zk.epoch;
      if (zk.hold) await new Promise<void>((resolve) => zk.waiting.push(resolve));
      return at;
    },
    release: () => zk.waiting.splice(0).forEach((resolve) => resolve()),
  };
  return zk;
}

test('an epoch above the one ZooKeeper handed out is refused with EINVAL; one at or below it passes', async (t) => {
  const zk = zookeeper(3);
  const check = new EpochCheck(zk.read);
  await t.notThrowsAsync(check.check(3, 'chunk.setVersion'));
  await t.notThrowsAsync(check.check(1, 'chunk.setVersion'));
  const err = await t.throwsAsync(check.check(1e12, 'chunk.setVersion'), { message: /epoch 1000000000000 is above ZooKeeper's master epoch 3/ });
  t.is((err as { code?: string }).code, 'EINVAL');
  zk.epoch = 4; // a takeover
  await t.notThrowsAsync(check.check(4, 'chunk.setVersion'));
});

test('ZooKeeper is read only for an epoch above the highest it confirmed', async (t) => {
  const zk = zookeeper(5);
  const check = new EpochCheck(zk.read);
  await check.check(2, 'x');
  t.is(zk.reads, 1);
  for (let i = 0; i < 10; i++) await check.check(5, 'x');
  t.is(zk.reads, 1, 'the confirmed epoch and any below it need no read');
});

test('claims that arrive together share a read, and one that arrives during a read waits for a fresh one', async (t) => {
  const zk = zookeeper(1);
  zk.hold = true;
  const check = new EpochCheck(zk.read);
  const first = check.check(1, 'x');
  await Promise.resolve();
  // The new master took epoch 2 after the first read began: that read cannot vouch for it.
  zk.epoch = 2;
  const during = [check.check(2, 'x'), check.check(2, 'x'), check.check(9, 'x')];
  zk.release();
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  zk.release();
  const [a, b, c] = await Promise.allSettled(during);
  t.is(a!.status, 'fulfilled');
  t.is(b!.status, 'fulfilled');
  t.is(c!.status, 'rejected');
  t.is(zk.reads, 2, 'one read for the first claim, one shared by the three after it');
});
