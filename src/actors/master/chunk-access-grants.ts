import type { ChunkToken, ChunkTokenIssuer } from '../../security/chunk-token.js';
import type { DataSocket, ReplyOf } from '../../transport/protocol.js';

type LeaseReply = ReplyOf<'master.lease'>;
type Located = ReplyOf<'master.locate'>;

/**
 * What a client needs to reach a chunk's bytes, added to lease and locate
 * replies at the RPC edge: each replica's data socket, and a capability
 * token for the client that asked. The data sockets are soft state, as the
 * replicas are: heard with every chunkserver's heartbeat and report, never
 * journaled. A replica whose data socket is not heard of yet (the first
 * second after a takeover) goes without: the client then uses its control
 * socket, which takes pushes and reads too.
 */
export class ChunkAccessGrants {
  private readonly dataSockets = new Map<string, DataSocket>();

  /** `tokens`: how to grant tokens; none when the cluster runs without security. */
  constructor(private readonly tokens: ChunkTokenIssuer | undefined) {}

  /** A chunkserver's heartbeat or report, which names its data socket. */
  heard(server: { id: string; data?: DataSocket }): void {
    if (server.data) this.dataSockets.set(server.id, server.data);
  }

  /** A lease reply for `client`: write access to its version. */
  lease(reply: LeaseReply, client: string): LeaseReply {
    const token = this.tokens?.issue(reply.chunkId, reply.version, 'write', client);
    return { ...reply, replicas: reply.replicas.map((r) => this.withData(r)), ...(token && { token }) };
  }

  /** A locate reply for `client`: read access to each chunk's current version. */
  located(reply: Located, client: string): Located {
    return {
      ...reply,
      chunks: reply.chunks.map((c) => {
        const token = this.tokens?.issue(c.chunkId, c.version, 'read', client);
        return { ...c, replicas: c.replicas.map((r) => this.withData(r)), ...(token && { token }) };
      }),
    };
  }

  /** Read access for chunkserver `target` to copy a chunk (re-replication). */
  copy(chunkId: string, version: number, target: string): ChunkToken | undefined {
    return this.tokens?.issue(chunkId, version, 'read', target);
  }

  private withData<R extends { id: string }>(replica: R): R & { data?: DataSocket } {
    const data = this.dataSockets.get(replica.id);
    return data ? { ...replica, data } : replica;
  }
}
