import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { sleep } from '../chaos.js';
import { availability, describeAvailability, type Availability } from './availability.js';
import { HostsCluster, type HostsClusterSpec } from './hosts-cluster.js';
import type { RunnerReport } from './workload-runner.js';

/**
 * A cluster across hosts for one test, stopped (namespaces and all) when it
 * ends, pass or fail; when it failed, its logs are kept and named in the output.
 */
export async function hostsCluster(t: ExecutionContext, spec: HostsClusterSpec = {}): Promise<HostsCluster> {
  const cluster = await HostsCluster.start(spec);
  t.teardown(async () => {
    if (!t.passed) {
      const kept = await mkdtemp(join(tmpdir(), 'ofs-hosts-failed-'));
      await cp(join(cluster.dir, 'logs'), kept, { recursive: true });
      console.error(`${t.title}: the logs of every process are in ${kept}`);
    }
    await cluster.stop();
  });
  return cluster;
}

/** When the partition began and ended (Date.now()). */
export interface Partition {
  cutAt: number;
  healAt: number;
}

const WARM_UP_MS = 2_000;
/** Work after the cluster is healthy again, for the figure's "recovered". */
const AFTER_HEAL_MS = 2_000;

/**
 * Runs `partition` under the SharedNamesWorkload on the first client host:
 * the workload runs a while first, and goes on until the cluster is healthy
 * again after the heal. Logs the history check and the availability figure,
 * and asserts the history linearizable, every acknowledged append in its
 * log, and that the cluster recovered by itself.
 */
export async function partitionUnderLoad(
  t: ExecutionContext,
  cluster: HostsCluster,
  options: { seed: number; probeMasters?: boolean },
  partition: () => Promise<Partition>,
): Promise<{ report: RunnerReport; figure: Availability; partition: Partition }> {
  t.log(`seed ${options.seed}`);
  const workload = await cluster.startWorkload(options);
  await sleep(WARM_UP_MS);
  const cut = await partition();
  await cluster.waitHealthy(90_000);
  await sleep(AFTER_HEAL_MS);
  const report = await workload.finish();
  for (const line of report.log) t.log(line);
  const figure = availability(report, cut.cutAt, cut.healAt);
  t.log(describeAvailability(figure, cut.healAt - cut.cutAt));
  t.deepEqual(report.problems, [], `seed ${options.seed}`);
  t.true(figure.recovered, 'writes and reads answered after the heal');
  return { report, figure, partition: cut };
}

/** A seed from OFS_CHAOS_SEED (to replay a run), else `fallback`. */
export function seedOr(fallback: number): number {
  const given = process.env.OFS_CHAOS_SEED;
  return given ? Number(given) : fallback;
}
