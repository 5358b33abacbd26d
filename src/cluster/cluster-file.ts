import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from '../storage/durable-file.js';

/** DIR/cluster.json: what `ofs cluster up` is running, for people and for tests that kill things. */
const clusterFileSchema = z.object({
  zk: z.string(),
  supervisor: z.number().int(),
  processes: z.array(
    z.object({
      role: z.enum(['zookeeper', 'master', 'chunkserver']),
      id: z.string(),
      pid: z.number().int(),
      port: z.number().int(),
      /** The HTTP endpoint (`/metrics`) of a master or chunkserver; ZooKeeper has none. */
      httpPort: z.number().int().optional(),
      dir: z.string(),
    }),
  ),
});

export type ClusterFile = z.infer<typeof clusterFileSchema>;
export type ClusterProcess = ClusterFile['processes'][number];

export function clusterFilePath(dir: string): string {
  return join(dir, 'cluster.json');
}

/** Written durably to a temp file of its own and renamed, so a reader never sees half a file, even after a crash. */
export async function writeClusterFile(dir: string, file: ClusterFile): Promise<void> {
  await writeFileDurably(clusterFilePath(dir), `${JSON.stringify(file, null, 2)}\n`);
}

export async function readClusterFile(dir: string): Promise<ClusterFile> {
  const path = clusterFilePath(dir);
  return clusterFileSchema.parse(JSON.parse(await readFile(path, 'utf8')));
}
