import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

/*
 * The `zookeeper` package's C client is built without SOCK_CLOEXEC, so every
 * child a process spawns while it holds a ZooKeeper session inherits that
 * session's sockets (libuv closes only the descriptors it opened itself).
 * That does worse than leak: once the parent closes or replaces such a socket,
 * the copy that lives on in the child keeps the parent's epoll registration
 * alive, epoll reports the dead socket's hang-up under the descriptor number
 * the client has reused, and the client spins on a socket with nothing to
 * read until node-zookeeper gives up and closes the session as "expired"
 * (seen here: three of six sessions lost, 3.5 s of CPU in 4 s, while a
 * ZooKeeper server was being spawned next to them).
 *
 * So a process that may hold a session spawns through bash, which closes
 * every inherited descriptor beyond the child's stdio before exec'ing the
 * real command. The copies then live for the few milliseconds between fork
 * and that loop, not for the child's whole life.
 */

const BASH = ['/bin/bash', '/usr/bin/bash'].find((path) => existsSync(path));

/** bash -c SCRIPT bash KEEP COMMAND ARGS...: close fds > KEEP, then exec COMMAND. */
const CLOSE_INHERITED_AND_EXEC = [
  'keep=$1; shift',
  'if [ -d /proc/$$/fd ]; then',
  '  for fd in /proc/$$/fd/*; do n=${fd##*/}; if [ "$n" -gt "$keep" ]; then eval "exec $n>&-"; fi; done',
  'fi',
  'exec "$@"',
].join('\n');

/**
 * `child_process.spawn`, except that the child does not keep the ZooKeeper
 * client's sockets. Use it to start any long-lived child from a process that
 * has (or may have) a ZkSession open. Without bash (or /proc), plain spawn.
 */
export function spawnWithoutInheritedSockets(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  if (!BASH) return spawn(command, args, options);
  const stdioCount = Array.isArray(options.stdio) ? Math.max(options.stdio.length, 3) : 3;
  return spawn(BASH, ['-c', CLOSE_INHERITED_AND_EXEC, 'bash', String(stdioCount - 1), command, ...args], options);
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));

/**
 * The command line that runs `command` so the kernel sends it SIGTERM when
 * this process dies (setpriv --pdeathsig, from util-linux): a child of a
 * supervisor that was killed must not live on as an orphan holding its port
 * and data directory. Without setpriv, the command as it is.
 */
export function dyingWithParent(command: string, args: readonly string[]): [string, string[]] {
  return SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, [...args]];
}
