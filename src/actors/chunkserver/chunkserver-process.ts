import type { ChunkStore } from '../../storage/chunk-store.js';
import type { RpcClient } from '../../transport/rpc-client.js';
import type { Logger } from '../../util/logger.js';
import type { EpochFence } from './epoch-fence.js';
import type { HeldLeases } from './held-leases.js';
import type { PushBuffers } from './push-buffers.js';
import type { ReplicaRouter } from './replica-router.js';

/** What the parts of one chunkserver process share. */
export interface ChunkserverProcess {
  id: string;
  address: string;
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
