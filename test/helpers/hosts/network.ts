import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/*
 * Hosts as Linux network namespaces, for the many-hosts tests: one namespace
 * per host, each with a veth pair whose other end sits in a bridge inside a
 * namespace of its own, so the root namespace gets no interface, route or
 * address, and nothing outside the namespaces made here is ever reachable.
 * Every name starts with `ofs-<pid>-`, so a later run can tell a dead run's
 * leftovers (its pid no longer exists) from a concurrent run's.
 */

const run = promisify(execFile);
const PREFIX = 'ofs-';
const OWN = new RegExp(`^${PREFIX}(\\d+)-`);

/** `ip ARGS`, failing with its stderr. */
export async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args)).stdout;
}

/** A command run inside namespace `ns`. */
export async function inNamespace(ns: string, command: string, ...args: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', ns, command, ...args])).stdout;
}

export interface Host {
  /** The name the test gives it (zk1, master2, client1). */
  name: string;
  /** Its network namespace. */
  ns: string;
  /** Its only address (besides loopback). */
  address: string;
}

/** Why the hosts tests cannot run here, or undefined when they can (root on Linux, with ip and iptables). */
export async function whyNoHosts(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run as root, or in a container as root)';
  for (const [command, args, install] of [
    ['ip', ['-V'], 'iproute2'],
    ['iptables', ['--version'], 'iptables'],
  ] as const) {
    try {
      await run(command, [...args]);
    } catch {
      return `${command} is missing: apt-get install -y ${install}`;
    }
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function namespaces(): Promise<string[]> {
  return (await ip('netns', 'list')).split('\n').map((line) => line.split(' ')[0]!).filter(Boolean);
}

/** Kills whatever still runs in `ns`, then deletes it (with it go its veth ends and its iptables rules). */
async function removeNamespace(ns: string): Promise<void> {
  const pids = (await ip('netns', 'pids', ns).catch(() => '')).split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await ip('netns', 'del', ns).catch(() => {});
}

/** Removes the namespaces of runs of this harness whose process is gone (a killed test run). */
export async function removeLeftovers(): Promise<string[]> {
  const dead = (await namespaces()).filter((ns) => {
    const pid = OWN.exec(ns)?.[1];
    return pid !== undefined && Number(pid) !== process.pid && !alive(Number(pid));
  });
  for (const ns of dead) await removeNamespace(ns);
  return dead;
}

/**
 * One test run's network: a bridge namespace and hosts attached to it, on
 * 10.213.N.0/24 (N from our pid: the subnet exists only inside these
 * namespaces anyway, so a concurrent run could not clash even on the same N).
 */
export class HostNetwork {
  readonly hosts = new Map<string, Host>();
  private readonly bridgeNs: string;
  private readonly subnet = `10.213.${process.pid % 250}`;
  private removed = false;

  private constructor(private readonly prefix: string) {
    this.bridgeNs = `${prefix}br`;
  }

  static async create(): Promise<HostNetwork> {
    await removeLeftovers();
    const network = new HostNetwork(`${PREFIX}${process.pid}-`);
    live.add(network);
    try {
      await ip('netns', 'add', network.bridgeNs);
      await ip('-n', network.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
      await ip('-n', network.bridgeNs, 'link', 'set', 'br0', 'up');
    } catch (err) {
      await network.remove();
      throw err;
    }
    return network;
  }

  /** A new host: its namespace, loopback up, eth0 with the next address, cabled to the bridge. */
  async addHost(name: string): Promise<Host> {
    if (this.removed) throw new Error('the network was removed');
    const ns = `${this.prefix}${name}`;
    const address = `${this.subnet}.${10 + this.hosts.size}`;
    const host: Host = { name, ns, address };
    this.hosts.set(name, host);
    await ip('netns', 'add', ns);
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    // Both ends are made inside namespaces: the bridge's end is named per host there, the host's is eth0.
    const port = `v-${name}`.slice(0, 15);
    await ip('-n', this.bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('-n', this.bridgeNs, 'link', 'set', port, 'master', 'br0');
    await ip('-n', this.bridgeNs, 'link', 'set', port, 'up');
    await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    return host;
  }

  host(name: string): Host {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name}`);
    return host;
  }

  /**
   * Cuts `host` off from each of `others`, both ways: its own firewall drops
   * what comes from them and what it sends to them (DROP, not REJECT: a
   * partition is silence, and TCP finds out only by timing out).
   */
  async cut(host: Host, others: Host[]): Promise<void> {
    for (const other of others) {
      await inNamespace(host.ns, 'iptables', '-A', 'INPUT', '-s', other.address, '-j', 'DROP');
      await inNamespace(host.ns, 'iptables', '-A', 'OUTPUT', '-d', other.address, '-j', 'DROP');
    }
  }

  /** Removes every cut made on `hosts` (all hosts when none are named). */
  async heal(hosts: Host[] = [...this.hosts.values()]): Promise<void> {
    for (const host of hosts) {
      await inNamespace(host.ns, 'iptables', '-F', 'INPUT');
      await inNamespace(host.ns, 'iptables', '-F', 'OUTPUT');
    }
  }

  /** Deletes every namespace of this run, killing what still runs in them. */
  async remove(): Promise<void> {
    this.removed = true;
    live.delete(this);
    const ours = (await namespaces()).filter((ns) => ns.startsWith(this.prefix));
    for (const ns of ours) await removeNamespace(ns);
  }
}

/**
 * Networks not removed yet. ava ends a file's process with SIGTERM when a
 * test outlives its timeout, and no teardown runs then: remove them here.
 */
const live = new Set<HostNetwork>();
process.once('SIGTERM', () => {
  void Promise.all([...live].map((network) => network.remove())).finally(() => process.exit(1));
});
