import type { ExecutionContext } from 'ava';
import { HostsCluster, type HostsClusterSpec } from './hosts-cluster.js';

/** A cluster across hosts for one test, stopped (namespaces and all) when it ends, pass or fail. */
export async function hostsCluster(t: ExecutionContext, spec: HostsClusterSpec = {}): Promise<HostsCluster> {
  const cluster = await HostsCluster.start(spec);
  t.teardown(() => cluster.stop());
  return cluster;
}
