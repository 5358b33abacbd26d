import type { ChildProcess, StdioOptions } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect as connectTcp } from 'node:net';
import { constants as osConstants } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OfsError } from '../core/errors.js';
import { sleep } from '../util/backoff.js';
import { dyingWithParent, spawnWithoutInheritedSockets } from './child-process.js';

/*
 * Launches the real Apache ZooKeeper (Debian's `zookeeper` package) as a
 * child process: one standalone server by default, enough for a development
 * cluster and for the integration tests, or one server of an ensemble
 * (`ensemble` and `id`), as on real hosts.
 */

/** Where Debian and the upstream tarball layouts put the server jar. */
export const ZOOKEEPER_JAR_CANDIDATES = ['/usr/share/java/zookeeper.jar', '/usr/share/zookeeper/zookeeper.jar', '/opt/zookeeper/lib/zookeeper.jar'];

const INSTALL_ZOOKEEPER_HINT =
  'install it with `apt-get install -y zookeeper` (Debian/Ubuntu), or set OFS_ZOOKEEPER_JAR to the path of zookeeper.jar';
const INSTALL_JAVA_HINT = 'install a JDK with `apt-get install -y default-jre-headless` (ZooKeeper 3.8 needs Java 11 or later), or set JAVA_HOME';

/**
 * The ZooKeeper server jar: `explicit` (or OFS_ZOOKEEPER_JAR) if given, else
 * the first of ZOOKEEPER_JAR_CANDIDATES that exists. Throws EUNAVAILABLE
 * saying what to install.
 */
export function findZooKeeperJar(explicit: string | undefined = process.env.OFS_ZOOKEEPER_JAR): string {
  const candidates = explicit ? [explicit] : ZOOKEEPER_JAR_CANDIDATES;
  const found = candidates.find((path) => isReadable(path));
  if (found) return found;
  throw new OfsError('EUNAVAILABLE', `ZooKeeper server jar not found (looked for ${candidates.join(', ')}): ${INSTALL_ZOOKEEPER_HINT}`);
}

/** The `java` to run: `explicit`, else $JAVA_HOME/bin/java, else the first on PATH. Throws EUNAVAILABLE saying what to install. */
export function findJava(explicit?: string): string {
  const candidates = explicit
    ? [explicit]
    : [
        ...(process.env.JAVA_HOME ? [join(process.env.JAVA_HOME, 'bin', 'java')] : []),
        ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'java')),
      ];
  const found = candidates.find((path) => isExecutable(path));
  if (found) return found;
  throw new OfsError('EUNAVAILABLE', `java not found (looked for ${explicit ?? 'java on PATH and in JAVA_HOME'}): ${INSTALL_JAVA_HINT}`);
}

/**
 * The classpath: the config directory (for log4j.properties), the server
 * jar (its manifest pulls in netty, jute, slf4j-api...) and, when present,
 * exactly one slf4j binding — log4j 1.2, as Debian ships it. Two bindings
 * (all of /usr/share/java) make the server abort; none leaves it silent.
 */
export function zooKeeperClasspath(confDir: string, jar: string): string {
  const jarDir = dirname(jar);
  const logging = [join(jarDir, 'slf4j-log4j12.jar'), join(jarDir, 'log4j-1.2.jar')];
  const withLogging = logging.every((path) => isReadable(path));
  return [confDir, jar, ...(withLogging ? logging : [])].join(delimiter);
}

/** Used when the repository's zoo.cfg cannot be found (an installed build without it). */
export const DEFAULT_ZOO_CFG = [
  'tickTime=100',
  'minSessionTimeout=1000',
  'maxSessionTimeout=20000',
  'initLimit=100',
  'syncLimit=4',
  'maxClientCnxns=0',
  '4lw.commands.whitelist=ruok,srvr,mntr,cons',
  'admin.enableServer=false',
  'autopurge.snapRetainCount=3',
  'autopurge.purgeInterval=1',
  '',
].join('\n');

/** The zoo.cfg at the repository root, found upwards from this module (src/zk or dist/src/zk). */
export function findZooCfgTemplate(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'zoo.cfg');
    if (existsSync(candidate) && existsSync(join(dir, 'package.json'))) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/** One server of an ensemble: its address, the port followers reach the leader on, and the leader-election port. */
export interface EnsembleMember {
  host: string;
  peerPort: number;
  electionPort: number;
}

export interface ServerConfigOptions {
  /** The server's directory: zoo.cfg and log4j.properties go in it, the data in DIR/data. */
  dir: string;
  port: number;
  /** The address clients connect to (clientPortAddress); every address when absent. */
  host?: string;
  /** This server's id (1-based position in `ensemble`); with `ensemble` only. */
  id?: number;
  /** Every server of the ensemble, in id order (server.1 first); standalone when absent. */
  ensemble?: EnsembleMember[];
  /** Path of a zoo.cfg to start from (default: the repository's zoo.cfg, else DEFAULT_ZOO_CFG). */
  template?: string;
  /** log4j level of the server's log (default INFO). */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

/**
 * Writes DIR/zoo.cfg from the template with dataDir=DIR/data and clientPort
 * (whatever the template says of them), clientPortAddress when a host is
 * given, and for an ensemble its server.N lines and DIR/data/myid; and a
 * log4j.properties that logs to the console: the launcher sends that to
 * DIR/zookeeper.log or to its own terminal. Returns the path of the zoo.cfg.
 */
export function writeServerConfig(options: ServerConfigOptions): string {
  const dir = resolve(options.dir);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const templatePath = options.template ?? findZooCfgTemplate();
  const template = templatePath ? readFileSync(templatePath, 'utf8') : DEFAULT_ZOO_CFG;
  const lines = template
    .split('\n')
    .filter((line) => !/^\s*(dataDir|clientPort|clientPortAddress|server\.\d+)\s*=/.test(line))
    .map(ensureRuokAllowed);
  if (!lines.some((line) => /^\s*4lw\.commands\.whitelist\s*=/.test(line))) lines.push('4lw.commands.whitelist=ruok,srvr,mntr,cons');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  lines.push(`dataDir=${dataDir}`, `clientPort=${options.port}`);
  if (options.host) lines.push(`clientPortAddress=${options.host}`);
  if (options.ensemble) {
    const id = options.id ?? 0;
    if (id < 1 || id > options.ensemble.length) {
      throw new OfsError('EINVAL', `--id must be between 1 and ${options.ensemble.length} (the servers in --ensemble), got ${id}`);
    }
    // Each server listens for its peers on its own address only (quorumListenOnAllIPs is false by default).
    options.ensemble.forEach((m, i) => lines.push(`server.${i + 1}=${m.host}:${m.peerPort}:${m.electionPort}`));
    writeFileSync(join(dataDir, 'myid'), `${id}\n`);
  }
  lines.push('');
  const configPath = join(dir, 'zoo.cfg');
  writeFileSync(configPath, lines.join('\n'));
  writeFileSync(
    join(dir, 'log4j.properties'),
    [
      `log4j.rootLogger=${options.logLevel ?? 'INFO'}, CONSOLE`,
      'log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender',
      'log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1} - %m%n',
      '',
    ].join('\n'),
  );
  return configPath;
}

/** waitForZooKeeper asks `ruok`: a whitelist that leaves it out would make the server look dead. */
function ensureRuokAllowed(line: string): string {
  const match = /^(\s*4lw\.commands\.whitelist\s*=\s*)(.*)$/.exec(line);
  if (!match) return line;
  const words = match[2]!.split(',').map((word) => word.trim());
  return words.includes('*') || words.includes('ruok') ? line : `${match[1]}${[...words.filter(Boolean), 'ruok'].join(',')}`;
}

export interface SpawnOptions extends ServerConfigOptions {
  /** 'file' (default): stdout and stderr to DIR/zookeeper.log; 'inherit': to ours; or any spawn stdio. */
  stdio?: 'file' | 'inherit' | StdioOptions;
  java?: string;
  jar?: string;
  /** Default: a small heap and the serial collector — the server shares two cores with every role. */
  jvmArgs?: string[];
}

export const DEFAULT_JVM_ARGS = ['-Xmx256m', '-XX:+UseSerialGC'];

/** Starts `java ... ZooKeeperServerMain DIR/zoo.cfg` (QuorumPeerMain for an ensemble). It is ready when waitForZooKeeper says so. */
export function spawnZooKeeperServer(options: SpawnOptions): ChildProcess {
  const java = findJava(options.java);
  const jar = findZooKeeperJar(options.jar);
  const dir = resolve(options.dir);
  const configPath = writeServerConfig({ ...options, dir });
  // ZooKeeperServerMain ignores server.N lines: an ensemble member needs the quorum peer.
  const main = options.ensemble ? 'org.apache.zookeeper.server.quorum.QuorumPeerMain' : 'org.apache.zookeeper.server.ZooKeeperServerMain';
  const args = [...(options.jvmArgs ?? DEFAULT_JVM_ARGS), '-cp', zooKeeperClasspath(dir, jar), main, configPath];
  // If our process is killed (kill -9 of `ofs zookeeper`, a crashed test
  // worker), java must not live on holding the port and the data directory,
  // or the restarted launcher finds its port taken: the kernel sends it
  // SIGTERM when we die.
  const [command, commandArgs] = dyingWithParent(java, args);
  const stdio = options.stdio ?? 'file';
  // Tests start servers from processes that hold sessions to other servers.
  if (stdio !== 'file') return spawnWithoutInheritedSockets(command, commandArgs, { cwd: dir, stdio });
  const log = openSync(join(dir, 'zookeeper.log'), 'a');
  try {
    return spawnWithoutInheritedSockets(command, commandArgs, { cwd: dir, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log); // the child holds its own copy
  }
}

export interface WaitOptions {
  /** Fail at once, with its exit code, if this process exits before answering. */
  child?: ChildProcess;
  /** Named in the error, for the reader to look at. */
  logFile?: string;
}

/**
 * Resolves once the server at host:port answers the four-letter word `ruok`
 * with `imok` (about half a second after launch) and serves requests;
 * rejects with EUNAVAILABLE after `timeoutMs`.
 */
export async function waitForZooKeeper(host: string, port: number, timeoutMs: number, options: WaitOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const { child } = options;
  const seeLog = options.logFile ? ` (see ${options.logFile})` : '';
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new OfsError('EUNAVAILABLE', `ZooKeeper exited with ${child.exitCode ?? child.signalCode} before it was ready on ${host}:${port}${seeLog}`);
    }
    if ((await askFourLetterWord(host, port, 'ruok', 500)) === 'imok' && (await isServing(host, port))) return;
    if (Date.now() >= deadline) {
      throw new OfsError('EUNAVAILABLE', `ZooKeeper on ${host}:${port} did not answer ruok within ${timeoutMs / 1000} s${seeLog}`);
    }
    await sleep(100);
  }
}

/**
 * `imok` only means the process listens: for a while after it the server
 * still closes every new connection ("ZooKeeperServer not running") while it
 * loads its database. `srvr` tells the two apart (and if an operator's
 * whitelist leaves srvr out, imok has to do).
 */
async function isServing(host: string, port: number): Promise<boolean> {
  const answer = await askFourLetterWord(host, port, 'srvr', 500);
  return answer !== undefined && !/not currently serving/.test(answer);
}

/** Sends a four-letter word; the answer, or undefined if the server cannot be reached in time. */
export function askFourLetterWord(host: string, port: number, word: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connectTcp({ host, port }, () => socket.end(word));
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => {});
    socket.on('close', (hadError) => resolve(hadError ? undefined : answer));
  });
}

/** Throws EUNAVAILABLE if something already listens on `port` of `host` (a ZooKeeper left running, say). */
export function assertPortFree(port: number, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new OfsError(
          'EUNAVAILABLE',
          err.code === 'EADDRINUSE'
            ? `port ${port} is already in use: is a ZooKeeper already running there? (ask it: echo ruok | nc ${host ?? '127.0.0.1'} ${port})`
            : `cannot listen on port ${port}: ${err.message}`,
        ),
      );
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

export interface ForegroundOptions extends Pick<ServerConfigOptions, 'host' | 'id' | 'ensemble'> {
  dir: string;
  port: number;
  /** Default 20 s standalone; an ensemble member is ready only once a quorum of its servers runs, so 120 s. */
  readyTimeoutMs?: number;
  /** Default 'file': the server's log goes to DIR/zookeeper.log and the terminal gets one line. */
  stdio?: 'file' | 'inherit';
}

/**
 * `ofs zookeeper`: runs the server as a child, prints
 * `zookeeper ready on HOST:PORT` once it answers (for an ensemble member:
 * once a quorum has formed and it serves), passes SIGINT and SIGTERM on to
 * it, and exits with its exit code. Throws (after stopping the child) if it
 * cannot start or does not become ready.
 */
export async function runZooKeeperForeground(options: ForegroundOptions): Promise<never> {
  const code = await superviseZooKeeper(options, () => console.log(`zookeeper ready on ${options.host ?? '127.0.0.1'}:${options.port}`));
  process.exit(code);
}

/** runZooKeeperForeground without the exit: resolves with the code to exit with. */
export async function superviseZooKeeper(options: ForegroundOptions, onReady: () => void): Promise<number> {
  findJava();
  findZooKeeperJar();
  const host = options.host ?? '127.0.0.1';
  await assertPortFree(options.port, options.host);
  const child = spawnZooKeeperServer({ ...options, stdio: options.stdio ?? 'file' });
  const exited = new Promise<number>((resolve, reject) => {
    child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
    child.once('error', (err) => reject(new OfsError('EUNAVAILABLE', `cannot start ZooKeeper: ${err.message}`)));
  });
  exited.catch(() => {}); // reported through waitForZooKeeper or the await below
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    const logFile = join(resolve(options.dir), 'zookeeper.log');
    const readyTimeoutMs = options.readyTimeoutMs ?? (options.ensemble ? 120_000 : 20_000);
    await waitForZooKeeper(host, options.port, readyTimeoutMs, { child, logFile });
    onReady();
    return await exited;
  } catch (err) {
    child.kill('SIGTERM');
    await exited.catch(() => {});
    throw err;
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}

/** The shell's convention for a child killed by a signal: 128 + its number. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? osConstants.signals[signal] : 0);
}

function isReadable(path: string): boolean {
  try {
    accessSync(path, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}
