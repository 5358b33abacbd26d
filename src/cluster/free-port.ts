import { createServer } from 'node:net';

/**
 * Ports for the roles of a local cluster are taken below Linux's ephemeral
 * range (32768-60999 by default): a port the OS picks for `listen(0)` can be
 * handed out again as the source port of any outgoing connection while its
 * role is down for a restart, and the role could not bind it again.
 */
const RANGE = { low: 20000, high: 32767 };
const ATTEMPTS = 100;

/** A port free on `host` right now, outside the ephemeral range. */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = RANGE.low + Math.floor(Math.random() * (RANGE.high - RANGE.low + 1));
    if (await canListen(host, port)) return port;
  }
  throw new Error(`no free port in ${RANGE.low}-${RANGE.high} on ${host} after ${ATTEMPTS} tries`);
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
