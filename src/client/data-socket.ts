import type { DataSocket } from '../transport/protocol.js';

/**
 * Where a client sends a replica's pushes and reads: its data socket, or,
 * while the master has not heard of that yet (just after a takeover), its
 * control socket, which takes them too (over CURVE when the client has keys).
 */
export function dataSocketOf(replica: { address: string; data?: DataSocket }): DataSocket {
  return replica.data ?? { address: replica.address, curve: true };
}
