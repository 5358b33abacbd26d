import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ClusterStatus } from '../../../src/client/ofs-client.js';
import { OFS_BIN, waitFor } from '../cluster.js';
import { HostNetwork, type Host } from './network.js';
import { HostProcess } from './processes.js';
import type { RunnerReport } from './workload-runner.js';

/*
 * An OFS cluster across hosts, started by hand as docs/deploy.md says: a
 * 3-server ZooKeeper ensemble, 2 masters and 4 chunkservers, each on a host
 * of its own, and client hosts. Every role listens on its host's address and
 * the standard ports (each host has its own address, so no port is shared).
 * Masters and chunkservers are restarted when they exit, as their systemd
 * units would (Restart=always): a role that loses its ZooKeeper session
 * exits on purpose.
 */

const run = promisify(execFile);
const RUNNER = fileURLToPath(new URL('./workload-runner.js', import.meta.url));

/** The ports of docs/deploy.md. */
export const PORTS = { zkClient: 2181, zkPeer: 2888, zkElection: 3888, rpc: 7000, http: 7001 };

export interface HostsClusterSpec {
  chunkservers?: number;
  clientHosts?: number;
  /** Masters' ZooKeeper session (default 1500, the product default). */
  masterSessionMs?: number;
}

export class HostsCluster {
  readonly zkHosts: Host[] = [];
  readonly masterHosts: Host[] = [];
  readonly chunkserverHosts: Host[] = [];
  readonly clientHosts: Host[] = [];
  /** By host name. */
  readonly processes = new Map<string, HostProcess>();
  /** The connect string every role and client is given: all three servers. */
  readonly zk: string;
  /** The cluster's keys (`ofs keys init`), which every role and client here is given. */
  readonly keys: string;

  private constructor(
    readonly network: HostNetwork,
    readonly dir: string,
    hosts: Host[][],
  ) {
    [this.zkHosts, this.masterHosts, this.chunkserverHosts, this.clientHosts] = hosts as [Host[], Host[], Host[], Host[]];
    this.keys = join(dir, 'keys');
    this.zk = this.zkHosts.map((h) => `${h.address}:${PORTS.zkClient}`).join(',');
  }

  /** Makes the hosts and starts every role on them; on any failure removes all it made and throws. */
  static async start(spec: HostsClusterSpec = {}): Promise<HostsCluster> {
    const network = await HostNetwork.create();
    const dir = await mkdtemp(join(tmpdir(), 'ofs-hosts-'));
    try {
      const make = async (prefix: string, count: number) => {
        const hosts: Host[] = [];
        for (let i = 1; i <= count; i++) hosts.push(await network.addHost(`${prefix}${i}`));
        return hosts;
      };
      const hosts = [await make('zk', 3), await make('master', 2), await make('cs', spec.chunkservers ?? 4), await make('client', spec.clientHosts ?? 1)];
      const cluster = new HostsCluster(network, dir, hosts);
      await cluster.startRoles(spec);
      return cluster;
    } catch (err) {
      await network.remove();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  host(name: string): Host {
    return this.network.host(name);
  }

  /** The host of a role's advertised address (`tcp://ADDR:PORT`). */
  hostAt(address: string): Host {
    const found = [...this.network.hosts.values()].find((h) => address === `tcp://${h.address}:${PORTS.rpc}`);
    if (!found) throw new Error(`no host has address ${address}`);
    return found;
  }

  process(hostName: string): HostProcess {
    const found = this.processes.get(hostName);
    if (!found) throw new Error(`nothing runs on ${hostName}`);
    return found;
  }

  /** `ofs ARGS` on a client host (the first unless named), with OFS_ZK set to the ensemble. */
  ofs(args: string[], on: Host = this.clientHosts[0]!, timeoutMs = 60_000): Promise<string> {
    return this.run(on, [process.execPath, OFS_BIN, ...args], timeoutMs);
  }

  /** A command on a host, to its end; its stdout. */
  async run(on: Host, command: string[], timeoutMs = 60_000): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', on.ns, ...command], {
      env: { ...process.env, OFS_ZK: this.zk, OFS_KEYS: this.keys },
      timeout: timeoutMs,
      maxBuffer: 16 * 2 ** 20,
    });
    return stdout;
  }

  async status(timeoutMs = 30_000): Promise<ClusterStatus> {
    return JSON.parse(await this.ofs(['status', '--json'], this.clientHosts[0], timeoutMs)) as ClusterStatus;
  }

  /** Until a master is active, its standby in sync and every chunkserver reporting; returns that status. */
  waitHealthy(timeoutMs = 60_000): Promise<ClusterStatus> {
    return waitFor(
      'a healthy cluster (an active master, an in-sync standby, every chunkserver)',
      async () => {
        const status = await this.status(10_000);
        const healthy = status.standby.some((s) => s.inSync) && status.chunkservers.length === this.chunkserverHosts.length;
        return healthy && status;
      },
      timeoutMs,
    );
  }

  /** The workload runner on a client host; `finish` closes its stdin and returns its report. */
  async startWorkload(options: { seed: number; on?: Host; probeMasters?: boolean }): Promise<{ finish: () => Promise<RunnerReport> }> {
    const on = options.on ?? this.clientHosts[0]!;
    const name = `workload-${options.seed}`;
    const out = join(this.dir, `${name}.json`);
    const args = [RUNNER, '--zk', this.zk, '--keys', this.keys, '--out', out, '--seed', String(options.seed), ...(options.probeMasters ? ['--probe-masters'] : [])];
    const runner = new HostProcess(on, name, [process.execPath, ...args], join(this.dir, 'logs', `${name}.log`), { stdin: true });
    await waitFor(`the workload on ${on.name} to start`, async () => {
      if (!runner.running) throw new Error(`the workload runner exited: ${await runner.log()}`);
      return (await runner.log()).includes('workload running');
    }, 60_000);
    return {
      finish: async () => {
        runner.stdin!.end();
        const timer = setTimeout(() => void runner.stop('SIGKILL'), 120_000);
        await runner.exited();
        clearTimeout(timer);
        const report = await readFile(out, 'utf8').catch(async () => {
          throw new Error(`the workload runner left no report: ${await runner.log()}`);
        });
        return JSON.parse(report) as RunnerReport;
      },
    };
  }

  /** A new chunkserver on a new host, as docs/deploy.md adds one: it registers and reports by itself. */
  async addChunkserver(name: string): Promise<Host> {
    const host = await this.network.addHost(name);
    this.chunkserverHosts.push(host);
    this.launch(host, ['chunkserver', ...this.roleArgs(host), '--scrub-interval-ms', '1000'], true);
    return host;
  }

  /** `ss -ltn` on a host: the local address:port of every listening TCP socket. */
  async listening(host: Host): Promise<string[]> {
    const { stdout } = await run('ip', ['netns', 'exec', host.ns, 'ss', '-ltnH']);
    return stdout.split('\n').filter(Boolean).map((line) => line.trim().split(/\s+/)[3]!);
  }

  /** Stops every role (clients of ZooKeeper first), then removes the namespaces and the directory. */
  async stop(): Promise<void> {
    const byRole = (prefix: string) => [...this.processes.values()].filter((p) => p.host.name.startsWith(prefix));
    for (const prefix of ['cs', 'master', 'zk']) await Promise.all(byRole(prefix).map((p) => p.stop()));
    await this.network.remove();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async startRoles(spec: HostsClusterSpec): Promise<void> {
    await mkdir(join(this.dir, 'logs'), { recursive: true });
    // One directory of keys for every host, as docs/deploy.md copies it (each host here sees the same file system).
    await run(process.execPath, [OFS_BIN, 'keys', 'init', '--dir', this.keys]);
    const ensemble = this.zkHosts.map((h) => `${h.address}:${PORTS.zkPeer}:${PORTS.zkElection}`).join(',');
    this.zkHosts.forEach((host, i) =>
      this.launch(host, ['zookeeper', '--host', host.address, '--port', String(PORTS.zkClient), '--id', String(i + 1), '--ensemble', ensemble], false),
    );
    for (const host of this.zkHosts) {
      await waitFor(`ZooKeeper on ${host.name}`, async () => {
        const log = await this.process(host.name).log();
        if (/ofs zookeeper:/.test(log)) throw new Error(log);
        return log.includes(`zookeeper ready on ${host.address}:${PORTS.zkClient}`);
      }, 120_000);
    }
    for (const host of this.masterHosts) {
      this.launch(host, [
        'master', ...this.roleArgs(host),
        '--chunk-size', '256KiB', '--replication', '3', '--lease-ms', '5000',
        '--zk-session-ms', String(spec.masterSessionMs ?? 1500),
      ], true);
    }
    for (const host of this.chunkserverHosts) this.launch(host, ['chunkserver', ...this.roleArgs(host), '--scrub-interval-ms', '1000'], true);
    await this.waitHealthy(90_000);
  }

  /** What a master and a chunkserver both take: their host's address and ports, and the whole ensemble. */
  private roleArgs(host: Host): string[] {
    return ['--host', host.address, '--port', String(PORTS.rpc), '--http-port', String(PORTS.http), '--zk', this.zk, '--keys', this.keys, '--heartbeat-ms', '300'];
  }

  private launch(host: Host, args: string[], restart: boolean): void {
    const [role] = args;
    const command = [process.execPath, OFS_BIN, role!, '--dir', join(this.dir, host.name), ...args.slice(1)];
    this.processes.set(host.name, new HostProcess(host, host.name, command, join(this.dir, 'logs', `${host.name}.log`), { restart }));
  }
}
