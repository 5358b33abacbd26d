import test from 'ava';
import { clusterFor, OFS_BIN, patternBytes, sha256, waitFor } from '../helpers/cluster.js';
import { Terminal } from '../helpers/terminal.js';

test('a chunkserver that missed the writes gets replicas moved to it; ofs balance shows a bar until even', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: 256 * 1024, chunkservers: 4, masters: 1, capacity: 32 * 2 ** 20 });
  const late = await cluster.process('chunkserver-3');
  const lateId = (await cluster.roleIds('chunkserver')).get('chunkserver-3')!;
  process.kill(late.pid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(late.pid, 'SIGCONT');
    } catch {
      // already gone
    }
  });
  await waitFor('the paused chunkserver to be dropped', async () => !(await client.status()).chunkservers.some((c) => c.id === lateId), 30_000);
  const data = patternBytes(6 * 2 ** 20, 12);
  await client.write('/bal/file', data);
  process.kill(late.pid, 'SIGCONT');
  await waitFor('all four chunkservers live again', async () => (await client.status()).chunkservers.length === 4, 60_000);

  // Run in a terminal, as a person would: the bar, then the verdict.
  const terminal = await Terminal.start(`node ${OFS_BIN} balance --threshold 5 --timeout 120`, { width: 80, env: { ...cluster.clientEnv(), OFS_USER: 'operator' } });
  t.teardown(() => terminal.close());
  const screen = await terminal.waitFor(/exit code \d+/, 150_000);
  t.log(screen.trimEnd());
  const bar = /^balance \[=+\] 100% \| spread [\d.]+\/5 \| [1-9]\d* moved \| (\d+\.\d) MiB\/s \| ETA \d+s$/m.exec(screen);
  t.truthy(bar, 'the bar, full, with replicas moved, MiB/s and ETA');
  t.true(Number(bar?.[1]) > 0, 'the replicas moved took bytes, so the rate is above 0');
  t.regex(screen, /^spread [\d.]+ points \(target 5\), [1-9]\d* replicas moved: balanced$/m);
  t.regex(screen, /^exit code 0$/m);
  const status = await client.status();
  const fills = status.chunkservers.map((c) => c.used / c.capacity);
  t.true(Math.max(...fills) - Math.min(...fills) <= 0.05 + 1e-9, `fills ${fills.map((f) => f.toFixed(3)).join(' ')}`);
  t.true(status.chunkservers.find((c) => c.id === lateId)!.chunkCount > 0, 'the late chunkserver holds replicas now');
  await waitFor('fsck healthy', async () => (await client.fsck('/bal')).summary.healthy === 24, 30_000);
  t.is(sha256(await client.read('/bal/file')), sha256(data));
});
