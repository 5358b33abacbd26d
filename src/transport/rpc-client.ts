import { randomBytes } from 'node:crypto';
import { Dealer } from 'zeromq';
import { OfsError } from '../core/errors.js';
import { splitMessages } from './batch.js';
import { decodeEnvelope, encodeEnvelope, errorFromBody } from './envelope.js';
import { protocol, type MessageType, type ReplyOf, type RequestOf } from './protocol.js';
import { SendQueue } from './send-queue.js';

export interface CallOptions {
  data?: Buffer[];
  timeoutMs?: number;
}

export interface CallResult<T extends MessageType> {
  body: ReplyOf<T>;
  data: Buffer[];
  /** The epoch the replying process stated: how a chunkserver fences off a deposed master. */
  epoch: number;
}

interface Pending {
  type: MessageType;
  /** The client that made the call: closing it fails its calls, not the others' on the same connection. */
  owner: RpcClient;
  resolve: (result: CallResult<MessageType>) => void;
  reject: (err: OfsError) => void;
  timer: NodeJS.Timeout;
}

export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/** Call ids are unique in this process: every client's calls to a peer share one connection. */
const ID_PREFIX = randomBytes(4).toString('hex');
let lastId = 0;

/**
 * One DEALER connected to one peer, shared by every RpcClient of this process
 * that calls it, with replies matched to calls by id. Sharing it is what lets
 * concurrent calls from many clients travel as one batch (send-queue.ts).
 */
class Connection {
  readonly pending = new Map<string, Pending>();
  readonly socket = new Dealer({ linger: 0, sendHighWaterMark: 64, receiveHighWaterMark: 64 });
  readonly sendQueue = new SendQueue((frames) => this.socket.send(frames));
  /** Clients that called through it and are not closed: the last one to close closes it. */
  readonly users = new Set<RpcClient>();
  /** When a reply last came: a call that times out while others are answered says nothing about the peer. */
  lastReplyAt = 0;

  constructor(
    readonly address: string,
    private readonly onLost: (why: string) => void,
  ) {
    // A peer that died closes its TCP connection (disconnect), and one that is
    // not there refuses it (connect:retry): either way no answer is coming, so
    // waiting calls fail now instead of at their timeout.
    this.socket.events.on('disconnect', () => this.onLost('the connection closed'));
    this.socket.events.on('connect:retry', () => this.onLost('it refuses connections'));
    this.socket.connect(address);
    void this.receiveLoop();
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        this.lastReplyAt = performance.now();
        let replies: Buffer[][];
        try {
          replies = splitMessages(frames);
        } catch {
          continue; // replies we cannot read cannot be matched either; their calls time out
        }
        for (const reply of replies) this.deliver(reply);
      }
    } catch {
      // closed: pending calls are failed by close()
    }
  }

  private deliver(frames: Buffer[]): void {
    let decoded;
    try {
      decoded = decodeEnvelope(frames);
    } catch {
      return; // a reply we cannot read cannot be matched either; its call times out
    }
    const { envelope, data } = decoded;
    const call = this.pending.get(envelope.id);
    if (!call) return; // the call already timed out
    this.pending.delete(envelope.id);
    clearTimeout(call.timer);
    const context = `${call.type} to ${this.address}`;
    if (envelope.type === 'error') return call.reject(errorFromBody(envelope.body, context));
    const parsed = protocol[call.type].reply.safeParse(envelope.body);
    if (!parsed.success) return call.reject(new OfsError('EBADMSG', `${context}: malformed reply (${parsed.error.message})`));
    call.resolve({ body: parsed.data as ReplyOf<MessageType>, data, epoch: envelope.epoch });
  }

  /** Fails the calls waiting here, `owner`'s only if given. */
  fail(reason: OfsError, owner?: RpcClient): void {
    for (const [id, call] of this.pending) {
      if (owner && call.owner !== owner) continue;
      this.pending.delete(id);
      clearTimeout(call.timer);
      call.reject(reason);
    }
  }

  close(reason: OfsError): void {
    this.fail(reason);
    this.socket.close();
  }
}

/** Every open connection of this process, by peer address. */
const connections = new Map<string, Connection>();

/** Closes `connection` (failing every call on it) and forgets it: the next call to its peer connects afresh. */
function drop(connection: Connection, why: string): void {
  if (connections.get(connection.address) !== connection) return;
  connections.delete(connection.address);
  connection.close(new OfsError('EUNAVAILABLE', `connection to ${connection.address} lost: ${why}`));
}

/**
 * Request/reply to any number of peers by address. A peer that lets a call
 * time out and has answered nothing since it was sent is presumed gone: its
 * connection is dropped (freeing queued bytes, and failing every call on it,
 * whichever client of this process made it) and the next call reconnects. A
 * call whose timeout was cut short by its caller's deadline, while the peer
 * answers others, fails alone.
 */
export class RpcClient {
  private closed = false;

  constructor(
    private readonly from: string,
    private readonly epoch: () => number = () => 0,
  ) {}

  call<T extends MessageType>(address: string, type: T, body: RequestOf<T>, options: CallOptions = {}): Promise<CallResult<T>> {
    // A closed client opens no new connection: one would keep the process alive.
    if (this.closed) return Promise.reject(new OfsError('ECLOSED', `${type} to ${address}: this client was closed`));
    const connection = this.connection(address);
    const id = `${ID_PREFIX}-${++lastId}`;
    const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const frames = encodeEnvelope({ type, id, epoch: this.epoch(), from: this.from, body }, options.data);
    const sentAt = performance.now();
    return new Promise<CallResult<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.pending.delete(id);
        reject(new OfsError('ETIMEDOUT', `${type} to ${address} got no answer within ${timeoutMs} ms`));
        if (connection.lastReplyAt < sentAt) drop(connection, `${address} stopped answering`);
      }, timeoutMs);
      connection.pending.set(id, { type, owner: this, resolve: resolve as Pending['resolve'], reject, timer });
      connection.sendQueue.enqueue(frames).catch((err: Error) => {
        if (!connection.pending.delete(id)) return;
        clearTimeout(timer);
        reject(new OfsError('EUNAVAILABLE', `${type} to ${address} could not be sent: ${err.message}`));
      });
    });
  }

  /** Fails this client's calls still waiting on `address` (EUNAVAILABLE); the connection goes too if no other client uses it. */
  reset(address: string, why: string): void {
    const connection = connections.get(address);
    if (!connection) return;
    if ([...connection.users].some((user) => user !== this)) connection.fail(new OfsError('EUNAVAILABLE', `call to ${address} abandoned: ${why}`), this);
    else drop(connection, why);
  }

  /** Fails every call of this client still waiting (ECLOSED) and every later one; a connection no other client uses closes. */
  close(): void {
    this.closed = true;
    for (const connection of [...connections.values()]) {
      if (!connection.users.delete(this)) continue;
      const reason = new OfsError('ECLOSED', `connection to ${connection.address} closed: this client was closed`);
      if (connection.users.size > 0) {
        connection.fail(reason, this);
      } else {
        connections.delete(connection.address);
        connection.close(reason);
      }
    }
  }

  private connection(address: string): Connection {
    let connection = connections.get(address);
    if (!connection) {
      const created: Connection = new Connection(address, (why) => drop(created, why));
      connections.set(address, (connection = created));
    }
    connection.users.add(this);
    return connection;
  }
}
