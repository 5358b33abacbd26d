import { Router } from 'zeromq';
import { OfsError, toOfsError } from '../core/errors.js';
import { BEARER, UNCHECKED, type Caller } from '../core/permissions.js';
import { LogLimiter } from '../util/log-limiter.js';
import type { Logger } from '../util/logger.js';
import { RoleTokenVerifier } from '../security/role-token.js';
import { maySend } from '../security/roles.js';
import type { WireIdentity } from '../security/wire-identity.js';
import { ZapHandler } from '../security/zap-handler.js';
import { decodeEnvelope, encodeEnvelope, errorBody, type Envelope } from './envelope.js';
import { MAX_DATA_FRAME, isMessageType, protocol, type MessageType, type ReplyOf, type RequestOf } from './protocol.js';
import { splitMessages } from './batch.js';
import { PeerTable } from './peer-table.js';
import { SendQueue } from './send-queue.js';

export interface Reply<T extends MessageType> {
  body: ReplyOf<T>;
  data?: Buffer[];
}

/**
 * `caller`: who the request's verified role token names (never anything the
 * request says of itself); without security there is no identity, and every
 * caller is the superuser (UNCHECKED).
 */
export type Handler<T extends MessageType> = (
  body: RequestOf<T>,
  data: Buffer[],
  envelope: Envelope,
  caller: Caller,
) => Promise<Reply<T>>;

export type HandlerMap = { [T in MessageType]?: Handler<T> };

/** What a server reports of each request it answered (metrics, at the edge). */
export interface RpcServerMetrics {
  /** `type` is a known message type or `unknown`, never a string off the wire: labels stay few. */
  handled(type: MessageType | 'unknown', outcome: 'ok' | 'error', seconds: number): void;
}

export interface RpcServerOptions {
  /** Who this server is, put in the `from` of every reply. */
  id: string;
  epoch: () => number;
  handlers: HandlerMap;
  log: Logger;
  metrics?: RpcServerMetrics;
  /** Peers served at once (each heard from within `peerIdleMs`); a new one past this is refused. */
  maxPeers?: number;
  peerIdleMs?: number;
  /**
   * CURVE: only the roster's keys connect (the ZAP handler), and each request
   * must carry a role token allowed to send its type (security/roles.ts).
   * Without it the socket is plain and anyone may call anything.
   */
  security?: WireIdentity;
  /**
   * 'data': a chunkserver's data socket. Its handlers authorise each request
   * by its capability token, so no role token is asked for (with `security`,
   * CURVE and the ZAP handler still vet the connection), and a message type
   * it has no handler for is refused EACCES. Default 'control'.
   */
  plane?: 'control' | 'data';
}

/** What a secure server checks besides the socket: the ZAP handler it uses, and, on the control plane, who sent each message. */
interface Guard {
  zap: { release(): void };
  verifier?: RoleTokenVerifier;
}

/**
 * Peers a server serves at once by default: far more client processes than a
 * cluster of this size sees, and few enough that their sockets and queues
 * fit in memory (the file descriptor limit here is 20,000).
 */
const MAX_PEERS = 4096;
/** A peer silent this long stops counting toward MAX_PEERS (a client reconnecting comes back under a new routing id). */
const PEER_IDLE_MS = 60_000;
/** Warnings of rejected requests a second at most; `notLogged` on the next counts the rest. */
const REJECTIONS_LOGGED_PER_SECOND = 10;

/**
 * A ROUTER socket that turns each incoming envelope into one handler call and
 * one reply (a message may carry a batch of envelopes, and replies that are
 * ready together go back together: batch.ts). Anything malformed gets an
 * `error` reply naming what was wrong; the loop itself never dies of a bad
 * message.
 */
export class RpcServer {
  private readonly sendQueue: SendQueue;
  private readonly peers: PeerTable;
  /** Bad requests are a peer's doing: their warnings must not fill the disk at the peer's pace. */
  private readonly rejections = new LogLimiter(REJECTIONS_LOGGED_PER_SECOND);

  private constructor(
    private readonly socket: Router,
    readonly address: string,
    private readonly options: RpcServerOptions,
    private readonly guard: Guard | undefined,
  ) {
    this.sendQueue = new SendQueue((frames) => socket.send(frames));
    this.peers = new PeerTable(options.maxPeers ?? MAX_PEERS, options.peerIdleMs ?? PEER_IDLE_MS);
    void this.receiveLoop();
  }

  /** `endpoint` is `tcp://host:port`; port 0 picks a free one, readable from `address`. */
  static async bind(endpoint: string, options: RpcServerOptions): Promise<RpcServer> {
    const { security } = options;
    // Before the socket binds: until a ZAP handler is there, libzmq admits any key.
    const zap = security && (await ZapHandler.acquire(security, options.log));
    // A frame over the largest legitimate one (a data frame of MAX_DATA_FRAME) makes ZeroMQ drop the
    // peer before it buffers the frame: a 4 GiB frame costs nothing but the connection.
    const socket = new Router({ linger: 0, receiveHighWaterMark: 256, maxMessageSize: MAX_DATA_FRAME, ...security?.serverOptions() });
    const bindTo = endpoint.replace(/:0$/, ':*');
    try {
      await socket.bind(bindTo);
    } catch (err) {
      socket.close();
      zap?.release();
      throw new OfsError('EUNAVAILABLE', `cannot listen on ${endpoint}: ${(err as Error).message}`);
    }
    const address = socket.lastEndpoint ?? endpoint;
    const verifier = security && options.plane !== 'data' ? new RoleTokenVerifier(() => security.roster, address) : undefined;
    return new RpcServer(socket, address, options, zap && { zap, verifier });
  }

  close(): void {
    this.socket.close();
    this.guard?.zap.release();
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [identity, ...frames] of this.socket) {
        if (!identity) continue;
        let requests: Buffer[][];
        try {
          requests = splitMessages(frames);
        } catch (err) {
          void this.reply(identity, 'unknown', this.refusal('unknown', err));
          continue;
        }
        if (this.peers.admit(identity, performance.now())) {
          for (const request of requests) void this.handle(identity, request);
          continue;
        }
        const busy = new OfsError('EUNAVAILABLE', `${this.options.id} serves ${this.peers.maxPeers} peers at most, and that many sent to it in the last ${this.peers.idleMs / 1000} s: try again later`);
        for (const request of requests) {
          const id = idOf(request);
          void this.reply(identity, id, this.refusal(id, busy));
        }
      }
    } catch (err) {
      if (!this.socket.closed) this.options.log.error({ err }, 'rpc server receive loop failed');
    }
  }

  private async handle(identity: Buffer, frames: Buffer[]): Promise<void> {
    const started = performance.now();
    let id = 'unknown';
    let type: MessageType | 'unknown' = 'unknown';
    let reply: Buffer[];
    let outcome: 'ok' | 'error' = 'ok';
    try {
      const { envelope, data } = decodeEnvelope(frames);
      id = envelope.id;
      if (isMessageType(envelope.type)) type = envelope.type;
      const body = await this.dispatch(envelope, data);
      reply = encodeEnvelope(this.envelope('reply', id, body.body), body.data, `the reply to ${type}`);
    } catch (err) {
      outcome = 'error';
      reply = this.refusal(id, err);
    }
    this.options.metrics?.handled(type, outcome, (performance.now() - started) / 1000);
    await this.reply(identity, id, reply);
  }

  /** The `error` reply to request `id`; a malformed request or a bug is logged too. */
  private refusal(id: string, err: unknown): Buffer[] {
    const error = toOfsError(err);
    if (error.code === 'EBADMSG' || error.code === 'EINTERNAL' || error.code === 'EACCES') {
      this.rejections.log(performance.now(), (skipped) =>
        this.options.log.warn({ code: error.code, id, ...(skipped > 0 ? { notLogged: skipped } : {}) }, `rejected request: ${error.message}`),
      );
    }
    return encodeEnvelope(this.envelope('error', id, errorBody(error)));
  }

  private async reply(identity: Buffer, id: string, reply: Buffer[]): Promise<void> {
    try {
      await this.sendQueue.enqueue(reply, identity);
    } catch (err) {
      if (!this.socket.closed) this.options.log.warn({ err, id }, 'could not send reply');
    }
  }

  private async dispatch(envelope: Envelope, data: Buffer[]): Promise<Reply<MessageType>> {
    const { type } = envelope;
    const handler = isMessageType(type) ? (this.options.handlers[type] as Handler<typeof type> | undefined) : undefined;
    if (isMessageType(type) && !handler && this.options.plane === 'data') {
      const taken = Object.keys(this.options.handlers).join(' and ');
      throw new OfsError('EACCES', `${type} refused by the data socket of ${this.options.id}: it takes ${taken} only (the rest go to its control socket)`);
    }
    if (!isMessageType(type) || !handler) {
      throw new OfsError('EBADMSG', `unknown message type ${JSON.stringify(type)} for ${this.options.id}`);
    }
    // The data socket asks for no role token: its requests prove no one (their capability tokens are bearers').
    let caller = this.options.plane === 'data' ? BEARER : UNCHECKED;
    if (this.guard?.verifier) {
      const principal = this.guard.verifier.principalOf(envelope.auth);
      if (!principal) throw new OfsError('EACCES', `${type} refused by ${this.options.id}: the request carries no valid role token`);
      if (!maySend(principal.role, type)) throw new OfsError('EACCES', `${type} refused by ${this.options.id}: a ${principal.role} may not send it`);
      caller = principal.caller;
    }
    const parsed = protocol[type].request.safeParse(envelope.body);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      throw new OfsError('EBADMSG', `invalid ${type} request: ${issues}`);
    }
    return handler(parsed.data as never, data, envelope, caller);
  }

  private envelope(type: 'reply' | 'error', id: string, body: unknown): Envelope {
    return { type, id, epoch: this.options.epoch(), from: this.options.id, body };
  }
}

/** The id of the request in `frames`, if it can be read: a refusal under it fails the caller's call at once. */
function idOf(frames: Buffer[]): string {
  try {
    return decodeEnvelope(frames).envelope.id;
  } catch {
    return 'unknown';
  }
}
