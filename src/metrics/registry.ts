import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Route } from '../http/http-endpoint.js';

/**
 * A registry of this process's own, with Node's process metrics (CPU,
 * memory, event loop lag, GC) in it. Never prom-client's global one: every
 * role object and test in one process keeps its numbers apart.
 */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** `GET /metrics`: the registry in Prometheus' text format, for a scraper. */
export function metricsRoute(registry: Registry): Route {
  return {
    method: 'GET',
    path: '/metrics',
    async handle(_request, response) {
      const body = await registry.metrics();
      response.writeHead(200, { 'content-type': registry.contentType });
      response.end(body);
    },
  };
}
