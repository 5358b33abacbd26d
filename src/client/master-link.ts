import { randomBytes } from 'node:crypto';
import { OfsError } from '../core/errors.js';
import { RETRY_CACHED_TYPES, type MessageType, type ReplyOf, type RequestOf } from '../transport/protocol.js';
import type { RpcClient } from '../transport/rpc-client.js';
import { findActiveMaster, watchMasters } from '../zk/election.js';
import type { ZkSession } from '../zk/session.js';

/** Errors after which another attempt may reach a (new) active master. */
const RETRYABLE = new Set<OfsError['code']>(['ENOTACTIVE', 'ETIMEDOUT', 'EUNAVAILABLE']);

/**
 * The client's path to the active master: found through ZooKeeper, found
 * again when it stops answering or says it is not active, so that a master
 * failover costs a caller a delay, not an error.
 */
export class MasterLink {
  private address: string | undefined;
  /** The active master as last seen by the watch; undefined until it first reports. */
  private watched: string | undefined;
  private readonly watch: { stop(): void };

  constructor(
    private readonly zk: ZkSession,
    private readonly rpc: RpcClient,
    private readonly retryForMs: number,
    private readonly callTimeoutMs: number,
  ) {
    // When ZooKeeper elects another master, calls still waiting on the old one
    // will never be answered: fail them now so they retry, rather than after
    // the call timeout.
    this.watch = watchMasters(zk, (masters) => {
      this.watched = masters[0]?.address;
      const current = this.address;
      if (current && this.watched !== current) {
        this.address = undefined;
        this.rpc.reset(current, 'another master was elected');
      }
    });
  }

  stop(): void {
    this.watch.stop();
  }

  async call<T extends MessageType>(type: T, body: RequestOf<T>): Promise<ReplyOf<T>> {
    // One id for every attempt: the master recognises a retry of a request
    // that already took effect and answers it instead of applying it twice.
    if (RETRY_CACHED_TYPES.has(type)) body = { ...body, requestId: randomBytes(12).toString('hex') };
    const deadline = Date.now() + this.retryForMs;
    let delay = 50;
    for (;;) {
      try {
        const address = this.address ?? (this.address = await this.resolve());
        return (await this.rpc.call(address, type, body, { timeoutMs: this.callTimeoutMs })).body;
      } catch (err) {
        const retryable = err instanceof OfsError && RETRYABLE.has(err.code);
        if (!retryable || Date.now() + delay > deadline) throw err;
        this.address = undefined;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  private async resolve(): Promise<string> {
    // The watched value, when there is one, so that a change after this point
    // always finds the address in use and resets it.
    if (this.watched) return this.watched;
    const active = await findActiveMaster(this.zk);
    if (!active) throw new OfsError('EUNAVAILABLE', 'no master is registered in ZooKeeper (is `ofs master` running?)');
    return active.address;
  }
}
