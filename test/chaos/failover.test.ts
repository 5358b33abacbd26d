import test from 'ava';
import { killActiveMasterRounds } from '../helpers/failover.js';

const rounds = Number(process.env.OFS_CHAOS_ROUNDS ?? 10);

test(`kill -9 of the active master, ${rounds} rounds, with writes in flight: nothing acknowledged is lost`, async (t) => {
  const recoveries = await killActiveMasterRounds(t, rounds);
  const sorted = [...recoveries].sort((a, b) => a - b);
  t.log(`kill → first acknowledged write, median ${sorted[Math.floor(sorted.length / 2)]} ms over ${rounds} kills`);
});
