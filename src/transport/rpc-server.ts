import { Router } from 'zeromq';
import { OfsError, toOfsError } from '../core/errors.js';
import type { Logger } from '../util/logger.js';
import { RoleTokenVerifier } from '../security/role-token.js';
import { maySend } from '../security/roles.js';
import type { WireIdentity } from '../security/wire-identity.js';
import { ZapHandler } from '../security/zap-handler.js';
import { decodeEnvelope, encodeEnvelope, errorBody, type Envelope } from './envelope.js';
import { MAX_DATA_FRAME, isMessageType, protocol, type MessageType, type ReplyOf, type RequestOf } from './protocol.js';
import { splitMessages } from './batch.js';
import { SendQueue } from './send-queue.js';

export interface Reply<T extends MessageType> {
  body: ReplyOf<T>;
  data?: Buffer[];
}

export type Handler<T extends MessageType> = (
  body: RequestOf<T>,
  data: Buffer[],
  envelope: Envelope,
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
  /**
   * CURVE: only the roster's keys connect (the ZAP handler), and each request
   * must carry a role token allowed to send its type (security/roles.ts).
   * Without it the socket is plain and anyone may call anything.
   */
  security?: WireIdentity;
}

/** What a secure server checks besides the socket: the ZAP handler it started, and who sent each message. */
interface Guard {
  zap: ZapHandler;
  verifier: RoleTokenVerifier;
}

/**
 * A ROUTER socket that turns each incoming envelope into one handler call and
 * one reply (a message may carry a batch of envelopes, and replies that are
 * ready together go back together: batch.ts). Anything malformed gets an
 * `error` reply naming what was wrong; the loop itself never dies of a bad
 * message.
 */
export class RpcServer {
  private readonly sendQueue: SendQueue;

  private constructor(
    private readonly socket: Router,
    readonly address: string,
    private readonly options: RpcServerOptions,
    private readonly guard: Guard | undefined,
  ) {
    this.sendQueue = new SendQueue((frames) => socket.send(frames));
    void this.receiveLoop();
  }

  /** `endpoint` is `tcp://host:port`; port 0 picks a free one, readable from `address`. */
  static async bind(endpoint: string, options: RpcServerOptions): Promise<RpcServer> {
    const { security } = options;
    // Before the socket binds: until a ZAP handler is there, libzmq admits any key.
    const zap = security && (await ZapHandler.start(security.roster, options.log));
    const socket = new Router({ linger: 0, receiveHighWaterMark: 256, ...security?.serverOptions() });
    const bindTo = endpoint.replace(/:0$/, ':*');
    try {
      await socket.bind(bindTo);
    } catch (err) {
      socket.close();
      zap?.close();
      throw new OfsError('EUNAVAILABLE', `cannot listen on ${endpoint}: ${(err as Error).message}`);
    }
    const address = socket.lastEndpoint ?? endpoint;
    return new RpcServer(socket, address, options, zap && security && { zap, verifier: new RoleTokenVerifier(security.roster, address) });
  }

  close(): void {
    this.socket.close();
    this.guard?.zap.close();
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
        for (const request of requests) void this.handle(identity, request);
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
      reply = encodeEnvelope(this.envelope('reply', id, body.body), body.data);
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
      this.options.log.warn({ code: error.code, id }, `rejected request: ${error.message}`);
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
    if (!isMessageType(type) || !handler) {
      throw new OfsError('EBADMSG', `unknown message type ${JSON.stringify(type)} for ${this.options.id}`);
    }
    if (this.guard) {
      const role = this.guard.verifier.roleOf(envelope.auth);
      if (!role) throw new OfsError('EACCES', `${type} refused by ${this.options.id}: the request carries no valid role token`);
      if (!maySend(role, type)) throw new OfsError('EACCES', `${type} refused by ${this.options.id}: a ${role} may not send it`);
    }
    const oversize = data.find((frame) => frame.length > MAX_DATA_FRAME);
    if (oversize) {
      throw new OfsError('EBADMSG', `${type}: data frame of ${oversize.length} bytes exceeds ${MAX_DATA_FRAME}`);
    }
    const parsed = protocol[type].request.safeParse(envelope.body);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      throw new OfsError('EBADMSG', `invalid ${type} request: ${issues}`);
    }
    return handler(parsed.data as never, data, envelope);
  }

  private envelope(type: 'reply' | 'error', id: string, body: unknown): Envelope {
    return { type, id, epoch: this.options.epoch(), from: this.options.id, body };
  }
}
