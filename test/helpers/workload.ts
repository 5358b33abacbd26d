import type { ExecutionContext } from 'ava';
import type { OfsClient } from '../../src/client/ofs-client.js';
import { patternBytes, sha256, type TestCluster } from './cluster.js';

export interface Acknowledged {
  path: string;
  sha: string;
  at: number;
}

/**
 * Clients writing small files in a loop (some span chunks), recording every
 * write the cluster acknowledged. Bounded in count; stopped by the test.
 */
export class Writers {
  readonly acked: Acknowledged[] = [];
  readonly failures: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(clients: OfsClient[], root: string, maxOpsPerClient = 2_000, sizes = [1, 10_000, 300_000]) {
    this.loops = clients.map(async (client, c) => {
      for (let n = 0; this.running && n < maxOpsPerClient; n++) {
        const path = `${root}/c${c}/f${n}`;
        const data = patternBytes(sizes[n % sizes.length]!, c * 100_000 + n);
        try {
          await client.write(path, data);
          this.acked.push({ path, sha: sha256(data), at: Date.now() });
        } catch (err) {
          this.failures.push(`${path}: ${(err as Error).message}`);
        }
      }
    });
  }

  /** Resolves at the first acknowledgement after `since`, with its time. */
  async nextAckAfter(since: number, timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ack = this.acked.find((a) => a.at > since);
      if (ack) return ack.at;
      if (Date.now() > deadline) throw new Error(`no write was acknowledged within ${timeoutMs} ms; failures: ${this.failures.slice(-3).join(' | ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** Reads back every acknowledged write and compares digests. */
export async function verifyAcknowledged(t: ExecutionContext, client: OfsClient, acked: Acknowledged[]): Promise<void> {
  let mismatched = 0;
  for (const { path, sha } of acked) {
    const got = sha256(await client.read(path).catch((err: Error) => Buffer.from(`unreadable: ${err.message}`)));
    if (got !== sha) {
      mismatched++;
      if (mismatched <= 5) t.log(`acknowledged write lost or corrupt: ${path}`);
    }
  }
  t.is(mismatched, 0, `${mismatched} of ${acked.length} acknowledged writes are lost or corrupt`);
}

/** The cluster.json id (master-0, master-1) of the master that status says is active. */
export async function activeMaster(cluster: TestCluster, client: OfsClient): Promise<{ processId: string; masterId: string; epoch: number }> {
  const status = await client.status();
  const ids = await cluster.roleIds('master');
  const processId = [...ids].find(([, masterId]) => masterId === status.master.id)?.[0];
  if (!processId) throw new Error(`active master ${status.master.id} is not in cluster.json`);
  return { processId, masterId: status.master.id, epoch: status.master.epoch };
}

/** Waits until a master other than `formerId` is active and a standby is attached and in sync. */
export async function waitForNewActiveWithStandby(client: OfsClient, formerId: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await client.status().catch(() => undefined);
    if (status && status.master.id !== formerId && status.standby.some((s) => s.inSync)) return;
    if (Date.now() > deadline) throw new Error(`no new active master with an attached standby within ${timeoutMs} ms: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
