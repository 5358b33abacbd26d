import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { OfsClient } from '../../../src/client/ofs-client.js';
import { WireIdentity } from '../../../src/security/wire-identity.js';
import { RpcClient } from '../../../src/transport/rpc-client.js';
import { listMasters } from '../../../src/zk/election.js';
import { connectZk } from '../../../src/zk/session.js';
import { Prng, sleep } from '../chaos.js';
import { SharedNamesWorkload } from '../shared-names.js';
import type { FsOperation } from '../history/fs-history.js';

/*
 * The client side of the many-hosts tests, run on a client host with
 * `ip netns exec`: the SharedNamesWorkload against the cluster's connect
 * string until its stdin closes, then the history checker's append check
 * (it reads the logs, so it must run where the cluster can be reached),
 * and a JSON report for the test: the history (checked for linearizability
 * by the test), the problems, and what the master prober saw.
 *
 *   node workload-runner.js --zk A:2181,B:2181,C:2181 --keys DIR --out FILE --seed N [--clients 3] [--probe-masters]
 *
 * The prober asks every master registered at the start for `master.status`
 * every PROBE_MS, straight to its address, as a client would that has not
 * noticed a failover: each answer says which master answered in which epoch,
 * so the test can tell whether a deposed master still answered after its
 * successor did.
 */

const PROBE_MS = 50;
const PROBE_TIMEOUT_MS = 400;

/** One answer from a master: when it came (ms since the epoch), who sent it, in which epoch. */
export interface ProbeAnswer {
  at: number;
  address: string;
  master: string;
  epoch: number;
}

export interface RunnerReport {
  /** `performance.timeOrigin` of the runner: the history's times are relative to it. */
  timeOrigin: number;
  history: FsOperation[];
  problems: string[];
  /** What the append check and the workload logged. */
  log: string[];
  probes: ProbeAnswer[];
}

const { values } = parseArgs({
  options: {
    zk: { type: 'string' },
    keys: { type: 'string' },
    out: { type: 'string' },
    seed: { type: 'string', default: '1' },
    clients: { type: 'string', default: '3' },
    'probe-masters': { type: 'boolean', default: false },
  },
});
if (!values.zk || !values.out) throw new Error('usage: workload-runner --zk CONNECT --out FILE [--seed N] [--clients N] [--probe-masters]');
const zk = values.zk;
const keys = values.keys;
const seed = Number(values.seed);

async function probeMasters(stopped: () => boolean, answers: ProbeAnswer[]): Promise<void> {
  const session = await connectZk(zk, { keepAlive: false });
  const addresses = (await listMasters(session)).map((m) => m.address);
  await session.close();
  const rpc = new RpcClient('prober', () => 0, keys === undefined ? undefined : await WireIdentity.load(keys, 'client'));
  while (!stopped()) {
    await Promise.all(
      addresses.map(async (address) => {
        try {
          const { body, epoch } = await rpc.call(address, 'master.status', {}, { timeoutMs: PROBE_TIMEOUT_MS });
          answers.push({ at: Date.now(), address, master: body.master.id, epoch });
        } catch {
          // not active, not reachable: no answer to record
        }
      }),
    );
    await sleep(PROBE_MS);
  }
  rpc.close();
}

const log: string[] = [];
const context = { teardown: () => {}, log: (line: string) => void log.push(line) };
const clients = await Promise.all(Array.from({ length: Number(values.clients) }, () => OfsClient.connect({ zk, keys, retryForMs: 30_000 })));
const workload = await SharedNamesWorkload.start(context, clients, new Prng(seed).fork('workload'), { root: '/shared', groups: 4, logs: 2, pauseMs: [5, 40] });
const probes: ProbeAnswer[] = [];
let stopping = false;
const prober = values['probe-masters'] ? probeMasters(() => stopping, probes) : Promise.resolve();
console.log('workload running');

process.stdin.resume();
await new Promise((resolve) => process.stdin.once('end', resolve));
stopping = true;
await Promise.all([workload.stop(30_000), prober]);
const problems = await workload.check(context, clients[0]!, seed);
const report: RunnerReport = { timeOrigin: performance.timeOrigin, history: workload.history, problems, log, probes };
await writeFile(values.out, JSON.stringify(report));
await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
console.log('workload done');
process.exit(0);
