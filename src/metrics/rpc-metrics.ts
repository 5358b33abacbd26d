import { Histogram, type Registry } from 'prom-client';
import type { RpcServerMetrics } from '../transport/rpc-server.js';

/** From half a millisecond (a stat) to tens of seconds (a copy, a lease waiting for reports). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Every request a role's RPC server answers, by message type and outcome: its
 * `_count` is the request count, its buckets the latency, from the request's
 * arrival to its reply being ready.
 */
export function rpcMetrics(registry: Registry): RpcServerMetrics {
  const requests = new Histogram({
    name: 'ofs_rpc_request_duration_seconds',
    help: 'Time from a request arriving to its reply being ready, by message type and outcome (ok, error)',
    labelNames: ['type', 'outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return { handled: (type, outcome, seconds) => requests.observe({ type, outcome }, seconds) };
}
