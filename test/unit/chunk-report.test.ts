import test from 'ava';
import { MasterChannel } from '../../src/actors/chunkserver/master-channel.js';
import type { ChunkserverProcess } from '../../src/actors/chunkserver/chunkserver-process.js';
import { UNFINISHED_COPY_VERSION } from '../../src/actors/chunkserver/chunk-replica-actor.js';
import { openAt, pattern, tempDir } from '../helpers/chunk-store.js';

test('a full chunk report gives each replica’s synced length, never bytes a crash could take back, and no copy under way', async (t) => {
  const store = await openAt(t, await tempDir(t));
  const channel = new MasterChannel({ store } as unknown as ChunkserverProcess, 1000);
  await store.create('00000000000000a1', 3);
  await store.write('00000000000000a1', 0, pattern(5000, 1));
  await store.sync('00000000000000a1');
  // Written after the last sync: on disk only once the next sync returns.
  await store.write('00000000000000a1', 5000, pattern(3000, 2));
  await store.create('00000000000000a2', UNFINISHED_COPY_VERSION);
  await store.write('00000000000000a2', 0, pattern(100, 3));
  await store.sync('00000000000000a2');
  t.deepEqual(channel.fullReport(), [{ chunkId: '00000000000000a1', version: 3, length: 5000 }]);
  await store.sync('00000000000000a1');
  t.deepEqual(channel.fullReport(), [{ chunkId: '00000000000000a1', version: 3, length: 8000 }]);
});
