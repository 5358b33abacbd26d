import { Reply } from 'zeromq';
import { OfsError } from '../core/errors.js';
import type { Logger } from '../util/logger.js';
import type { Roster } from './keys.js';
import { ROLES, type Role } from './roles.js';
import { ZAP_DOMAIN, type WireIdentity } from './wire-identity.js';
import { z85Encode } from './z85.js';

/** Where libzmq sends its ZAP requests (RFC 27), in the same context: zeromq.js's default one. */
const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';
const CURVE_KEY_BYTES = 32;
const UNKNOWN_KEY = 'unknown key';

/** Each key of `roster` and its role: a user's key is a client's (its role token names the user: role-token.ts). */
function keysOf(roster: Roster): Map<string, Role> {
  const users = Object.values(roster.users ?? {}).map((user): [string, Role] => [user.curve, 'client']);
  return new Map([...ROLES.map((role): [string, Role] => [roster.roles[role].curve, role]), ...users]);
}

export interface ZapRequest {
  version: string;
  requestId: Buffer;
  domain: string;
  address: string;
  mechanism: string;
  credentials: Buffer[];
}

export interface ZapVerdict {
  status: '200' | '400';
  text: string;
  /** ZAP's user id: the role of the key. */
  userId: string;
}

/**
 * Whether to admit a CURVE client (pure, for the handler and its tests): the
 * key must be one of the roster's, and the request well-formed ZAP 1.0 for
 * OFS's domain. A server without a handler would admit any key at all.
 */
export function judge(request: ZapRequest, keys: ReadonlyMap<string, Role>): ZapVerdict {
  const refuse = (text: string): ZapVerdict => ({ status: '400', text, userId: '' });
  if (request.version !== '1.0') return refuse(`unsupported ZAP version ${request.version}`);
  if (request.domain !== ZAP_DOMAIN) return refuse(`unknown domain ${request.domain}`);
  if (request.mechanism !== 'CURVE') return refuse(`mechanism ${request.mechanism} is not allowed: CURVE only`);
  const [key] = request.credentials;
  if (request.credentials.length !== 1 || key?.length !== CURVE_KEY_BYTES) return refuse('malformed CURVE credentials');
  const role = keys.get(z85Encode(key));
  if (!role) return refuse(UNKNOWN_KEY);
  return { status: '200', text: 'OK', userId: role };
}

/** The process's handler and the server sockets using it: a chunkserver with --encrypt-data has two. */
let shared: { handler: Promise<ZapHandler>; users: number } | undefined;

/**
 * The process's ZAP handler: a REP socket at ZAP_ENDPOINT answering libzmq's
 * authentication requests for its CURVE server sockets. Started before the
 * first server socket binds (until it is there, libzmq admits every key),
 * one per process: each server socket acquires it, and the last to release
 * it closes it.
 */
export class ZapHandler {
  private keys: ReadonlyMap<string, Role>;

  /** `identity`: the roster it admits; it is asked for new users when an unknown key comes. */
  private constructor(
    private readonly socket: Reply,
    private readonly identity: WireIdentity,
    private readonly log: Logger,
  ) {
    this.keys = keysOf(identity.roster);
    void this.serve();
  }

  /** The process's handler, started by the first caller; the caller must `release` it once. */
  static async acquire(identity: WireIdentity, log: Logger): Promise<{ release(): void }> {
    if (!shared) {
      const entry = { handler: ZapHandler.start(identity, log), users: 0 };
      shared = entry;
      entry.handler.catch(() => shared === entry && (shared = undefined));
    }
    const entry = shared;
    entry.users++;
    let handler: ZapHandler;
    try {
      handler = await entry.handler;
    } catch (err) {
      entry.users--;
      throw err;
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        if (--entry.users > 0) return;
        if (shared === entry) shared = undefined;
        handler.close();
      },
    };
  }

  private static async start(identity: WireIdentity, log: Logger): Promise<ZapHandler> {
    const socket = new Reply({ linger: 0 });
    try {
      await socket.bind(ZAP_ENDPOINT);
    } catch (err) {
      socket.close();
      throw new OfsError('EINTERNAL', `cannot start the ZAP handler at ${ZAP_ENDPOINT} (one per process): ${(err as Error).message}`);
    }
    return new ZapHandler(socket, identity, log);
  }

  /** The verdict on `request`, with the roster's users read again first if its key is unknown (a user added since). */
  private async judge(request: ZapRequest): Promise<ZapVerdict> {
    const verdict = judge(request, this.keys);
    if (verdict.text !== UNKNOWN_KEY || !(await this.identity.refreshUsers())) return verdict;
    this.keys = keysOf(this.identity.roster);
    return judge(request, this.keys);
  }

  close(): void {
    this.socket.close();
  }

  private async serve(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const [version, requestId, domain, address, , mechanism, ...credentials] = frames;
        const request: ZapRequest = {
          version: String(version ?? ''),
          requestId: requestId ?? Buffer.alloc(0),
          domain: String(domain ?? ''),
          address: String(address ?? ''),
          mechanism: String(mechanism ?? ''),
          credentials,
        };
        const verdict = await this.judge(request);
        if (verdict.status !== '200') this.log.warn({ peer: request.address, reason: verdict.text }, 'refused a connection: its CURVE key is not the cluster’s');
        await this.socket.send([request.version, request.requestId, verdict.status, verdict.text, verdict.userId, '']);
      }
    } catch (err) {
      if (!this.socket.closed) this.log.error({ err }, 'the ZAP handler failed: no client can be admitted');
    }
  }
}
