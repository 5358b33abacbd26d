import { randomBytes } from 'node:crypto';
import { Dealer } from 'zeromq';
import { OfsError } from '../core/errors.js';
import { serverRoleOf, type Role } from '../security/roles.js';
import type { WireIdentity } from '../security/wire-identity.js';
import { splitMessages } from './batch.js';
import { decodeEnvelope, encodeEnvelope, errorFromBody } from './envelope.js';
import { protocol, type MessageType, type ReplyOf, type RequestOf } from './protocol.js';
import { SendQueue } from './send-queue.js';

export interface CallOptions {
  data?: Buffer[];
  timeoutMs?: number;
  /** The role of the process at the address, when the type does not say (`admin.*`): which server key to expect. */
  peer?: Role;
  /**
   * false: a plain connection, even from a client with keys, and no role
   * token (a chunkserver's data socket by default, whose requests carry
   * capability tokens instead: docs/design.md, "Security").
   */
  curve?: boolean;
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
  readonly socket: Dealer;
  readonly sendQueue = new SendQueue((frames) => this.socket.send(frames));
  /** Clients that called through it and are not closed: the last one to close closes it. */
  readonly users = new Set<RpcClient>();
  /** When a reply last came: a call that times out while others are answered says nothing about the peer. */
  lastReplyAt = 0;

  constructor(
    readonly key: string,
    readonly address: string,
    curve: ReturnType<WireIdentity['clientOptions']> | undefined,
    private readonly onLost: (error: OfsError) => void,
  ) {
    this.socket = new Dealer({ linger: 0, sendHighWaterMark: 64, receiveHighWaterMark: 64, ...curve });
    const lost = (why: string) => this.onLost(new OfsError('EUNAVAILABLE', `connection to ${address} lost: ${why}`));
    // A peer that died closes its TCP connection (disconnect), and one that is
    // not there refuses it (connect:retry): either way no answer is coming, so
    // waiting calls fail now instead of at their timeout.
    this.socket.events.on('disconnect', () => lost('the connection closed'));
    this.socket.events.on('connect:retry', () => lost('it refuses connections'));
    // A handshake the peer refuses would be retried forever, each call waiting for its
    // timeout: the calls fail at once instead, saying why (the event comes before the
    // disconnect that follows it).
    const refused = (why: string) => this.onLost(new OfsError('EACCES', `${address} refused the connection: ${why}`));
    // Without keys, any failed handshake means the server wants them (the mismatch may also show as a hang-up).
    const noKeys = 'it requires CURVE security: pass --keys DIR or set OFS_KEYS to the cluster’s keys directory';
    this.socket.events.on('handshake:error:auth', () => refused('it does not know this process’s CURVE key (is OFS_KEYS / --keys this cluster’s keys directory?)'));
    this.socket.events.on('handshake:error:protocol', (event) =>
      refused(
        !curve
          ? noKeys
          : event.error.code === 'ERR_ZMTP_MECHANISM_MISMATCH'
            ? 'it runs without security, and this process uses CURVE keys'
            : `the CURVE handshake failed (${event.error.code})`,
      ),
    );
    // The server hangs up on a hello it cannot decrypt: this process expects another server key.
    this.socket.events.on('handshake:error:other', () =>
      refused(curve ? 'the CURVE handshake failed: is it a server of the role and cluster this process expects?' : noKeys),
    );
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

/** Every open connection of this process, by connectionKey. */
const connections = new Map<string, Connection>();

/**
 * Clients with different keys (a test may hold several) do not share
 * connections: the server admitted a connection for its key, and a call
 * must not ride on another key's.
 */
function connectionKey(address: string, identity: WireIdentity | undefined): string {
  return `${identity?.curvePublicKey ?? 'plain'} ${address}`;
}

/** Closes `connection` (failing every call on it with `error`) and forgets it: the next call to its peer connects afresh. */
function drop(connection: Connection, error: OfsError): void {
  if (connections.get(connection.key) !== connection) return;
  connections.delete(connection.key);
  connection.close(error);
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

  /** `identity`: call over CURVE with its keys, and sign its role into every request; without it, plain. */
  constructor(
    private readonly from: string,
    private readonly epoch: () => number = () => 0,
    private readonly identity?: WireIdentity,
  ) {}

  call<T extends MessageType>(address: string, type: T, body: RequestOf<T>, options: CallOptions = {}): Promise<CallResult<T>> {
    // A closed client opens no new connection: one would keep the process alive.
    if (this.closed) return Promise.reject(new OfsError('ECLOSED', `${type} to ${address}: this client was closed`));
    const identity = options.curve === false ? undefined : this.identity;
    const id = `${ID_PREFIX}-${++lastId}`;
    let connection: Connection;
    let frames: Buffer[];
    try {
      connection = this.connection(address, identity, options.peer ?? serverRoleOf(type));
      const auth = identity?.token(address);
      frames = encodeEnvelope({ type, id, epoch: this.epoch(), from: this.from, body, ...(auth && { auth }) }, options.data);
    } catch (err) {
      return Promise.reject(err);
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const sentAt = performance.now();
    return new Promise<CallResult<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.pending.delete(id);
        reject(new OfsError('ETIMEDOUT', `${type} to ${address} got no answer within ${timeoutMs} ms`));
        if (connection.lastReplyAt < sentAt) drop(connection, new OfsError('EUNAVAILABLE', `connection to ${address} lost: it stopped answering`));
      }, timeoutMs);
      connection.pending.set(id, { type, owner: this, resolve: resolve as Pending['resolve'], reject, timer });
      connection.sendQueue.enqueue(frames).catch((err: Error) => {
        if (!connection.pending.delete(id)) return;
        clearTimeout(timer);
        reject(new OfsError('EUNAVAILABLE', `${type} to ${address} could not be sent: ${err.message}`));
      });
    });
  }

  /** Fails this client's calls still waiting on `address` over its keys' connection (EUNAVAILABLE); the connection goes too if no other client uses it. */
  reset(address: string, why: string): void {
    const connection = connections.get(connectionKey(address, this.identity));
    if (!connection) return;
    if ([...connection.users].some((user) => user !== this)) connection.fail(new OfsError('EUNAVAILABLE', `call to ${address} abandoned: ${why}`), this);
    else drop(connection, new OfsError('EUNAVAILABLE', `connection to ${address} lost: ${why}`));
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
        connections.delete(connection.key);
        connection.close(reason);
      }
    }
  }

  /** The shared connection to `address` with `identity`'s keys (plain without), opened if missing, expecting a server of role `server` when secure. */
  private connection(address: string, identity: WireIdentity | undefined, server: Role | undefined): Connection {
    const key = connectionKey(address, identity);
    let connection = connections.get(key);
    if (!connection) {
      if (identity && !server) throw new OfsError('EINVAL', `a secure call to ${address} must name the role of the process there (CallOptions.peer)`);
      const curve = identity && server && identity.clientOptions(server);
      const created: Connection = new Connection(key, address, curve, (error) => drop(created, error));
      connections.set(key, (connection = created));
    }
    connection.users.add(this);
    return connection;
  }
}
