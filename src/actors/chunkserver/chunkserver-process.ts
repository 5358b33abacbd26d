import type { ChunkTokenVerifier } from '../../security/chunk-token.js';
import type { ChunkStore } from '../../storage/chunk-store.js';
import type { DataSocket } from '../../transport/protocol.js';
import type { RpcClient } from '../../transport/rpc-client.js';
import type { Logger } from '../../util/logger.js';
import type { EpochFence } from './epoch-fence.js';
import type { HeldLeases } from './held-leases.js';
import type { PushBuffers } from './push-buffers.js';
import type { ReplicaRouter } from './replica-router.js';

/** What the parts of one chunkserver process share. */
export interface ChunkserverProcess {
  id: string;
  /** New with every start: the master asks for a full report when it changes. */
  incarnation: string;
  /** Its control socket: the master's orders, commits, applies. */
  address: string;
  /** Its data socket: pushes and reads, told to the master with every heartbeat. */
  data: DataSocket;
  /** Checks the capability tokens of pushes, commits and reads; none when the cluster runs without security. */
  tokens?: ChunkTokenVerifier;
  store: ChunkStore;
  /** Routes each chunk operation to that chunk's replica actor. */
  replicas: ReplicaRouter;
  /** The leases this server holds as primary. */
  leases: HeldLeases;
  /** Bytes pushed ahead of mutations. */
  buffers: PushBuffers;
  fence: EpochFence;
  rpc: RpcClient;
  log: Logger;
}
