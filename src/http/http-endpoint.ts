import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OfsError } from '../core/errors.js';
import type { Logger } from '../util/logger.js';

/**
 * One page or API of a role's HTTP endpoint. `path` is matched exactly, or,
 * when it ends in `/*`, as a prefix (`/files/*` takes `/files/a/b`), so a
 * route set such as a web console can own a subtree.
 */
export interface Route {
  method: 'GET' | 'HEAD' | 'POST';
  path: string;
  handle(request: IncomingMessage, response: ServerResponse, url: URL): void | Promise<void>;
}

/**
 * The HTTP side of a role (metrics, and whatever else is mounted): Node's own
 * `http` server over a fixed list of routes. It is for operators and
 * scrapers, beside the ZeroMQ port that carries the file system's traffic.
 */
export class HttpEndpoint {
  private constructor(
    private readonly server: Server,
    /** The port it listens on (the one picked, when asked for port 0). */
    readonly port: number,
  ) {}

  static async listen(host: string, port: number, routes: readonly Route[], log: Logger): Promise<HttpEndpoint> {
    const server = createServer((request, response) => {
      void serve(routes, request, response).catch((err: unknown) => {
        log.error({ err, url: request.url }, 'http request failed');
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
        response.end('internal error\n');
      });
    });
    // A scraper's idle keep-alive connection must not hold up a role's stop.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new OfsError('EUNAVAILABLE', `cannot listen for HTTP on ${host}:${port}: ${err.message}`)));
      server.listen(port, host, resolve);
    });
    const endpoint = new HttpEndpoint(server, (server.address() as AddressInfo).port);
    log.info({ httpPort: endpoint.port }, `http endpoint on http://${host}:${endpoint.port}/`);
    return endpoint;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function serve(routes: readonly Route[], request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const onPath = routes.filter((route) => matches(route.path, url.pathname));
  const route = onPath.find((r) => r.method === request.method);
  if (route) return route.handle(request, response, url);
  if (onPath.length > 0) {
    response.writeHead(405, { allow: onPath.map((r) => r.method).join(', '), 'content-type': 'text/plain' });
    response.end(`${request.method} not allowed on ${url.pathname}\n`);
    return;
  }
  response.writeHead(404, { 'content-type': 'text/plain' });
  response.end(`no such page: ${url.pathname}\n`);
}

function matches(pattern: string, pathname: string): boolean {
  if (!pattern.endsWith('/*')) return pattern === pathname;
  const prefix = pattern.slice(0, -1);
  return pathname.startsWith(prefix) || pathname === prefix.slice(0, -1);
}
