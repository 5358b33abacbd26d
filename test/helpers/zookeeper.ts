import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnZooKeeperServer, waitForZooKeeper } from '../../src/cluster/zookeeper-server.js';

export interface TestZooKeeper {
  /** Connect string for connectZk: `127.0.0.1:PORT`. */
  connect: string;
  port: number;
  dir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
}

/** Servers still running; killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A throwaway ZooKeeper server (the real one, in a child `java`) on a free
 * port in a fresh temporary directory. Its log is DIR/zookeeper.log.
 */
export async function startTestZooKeeper(): Promise<TestZooKeeper> {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-zk-'));
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawnZooKeeperServer({ dir, port });
  } catch (err) {
    await rm(dir, { recursive: true, force: true }); // no java or no jar: nothing to clean but the directory
    throw err;
  }
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  exited.then(() => running.delete(child));

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitForZooKeeper('127.0.0.1', port, 20_000, { child, logFile: join(dir, 'zookeeper.log') });
  } catch (err) {
    await stop();
    throw err;
  }
  return { connect: `127.0.0.1:${port}`, port, dir, stop };
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
