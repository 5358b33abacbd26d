import { createHash } from 'node:crypto';
import type { FileStat } from '../../src/client/ofs-client.js';
import type { TestCluster } from './cluster.js';

/**
 * For each chunk of a file, the SHA-256 of its bytes as each replica holds
 * them, read straight from the chunkservers: how a test checks that the
 * replicas are consistent (byte-identical), which no client read would show.
 */
export async function replicaDigests(stat: FileStat, cluster: TestCluster): Promise<{ chunkId: string; digests: Map<string, string> }[]> {
  const name = 'test-replica-reader';
  const rpc = await cluster.rpc(name);
  try {
    return await Promise.all(
      stat.chunks.map(async (chunk) => {
        const digests = new Map<string, string>();
        const token = await cluster.token(chunk.chunkId, chunk.version, 'read');
        for (const replica of chunk.replicas) {
          const hash = createHash('sha256');
          for (let at = 0; ; ) {
            const { data } = await rpc.call(replica.address, 'chunk.read', { chunkId: chunk.chunkId, version: chunk.version, offset: at, length: 1 << 20, token });
            const bytes = data[0]!;
            hash.update(bytes);
            at += bytes.length;
            if (bytes.length < 1 << 20) break;
          }
          digests.set(replica.id, hash.digest('hex'));
        }
        return { chunkId: chunk.chunkId, digests };
      }),
    );
  } finally {
    rpc.close();
  }
}
