import test from 'ava';
import { hostsCluster } from '../helpers/hosts/hosts-test.js';

test.serial('smoke', async (t) => {
  const cluster = await hostsCluster(t);
  t.log(JSON.stringify(await cluster.status()));
  t.pass();
});
