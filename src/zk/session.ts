import ZooKeeper from 'zookeeper';
import { OfsError } from '../core/errors.js';
import { membersOnlyAcl, type ZkAcl } from './acl.js';
import { isConnectionError } from './zk-errors.js';

/** The raw client of the `zookeeper` package (promise API). */
export type ZkClient = ZooKeeper;

export interface ConnectOptions {
  /** How long to wait for the first server to accept the session (default 5000 ms). */
  connectTimeoutMs?: number;
  /**
   * Session timeout asked of the server (default DEFAULT_SESSION_TIMEOUT_MS).
   * The server clamps it to its min/maxSessionTimeout (zoo.cfg: 1 to 20 s);
   * `ZkSession.sessionTimeoutMs` is what it granted. Ephemeral znodes of a
   * process that dies without closing vanish this long after its last ping
   * (plus up to one server tick). The native client pings from this
   * process's event loop, and so does the session's keep-alive (see
   * ZkSession.touch): an event loop blocked for 9/10 of the timeout may
   * cost the session (2/3 of it without the keep-alive, `keepAlive: false`).
   */
  sessionTimeoutMs?: number;
  /**
   * How long the session may stay disconnected before this process gives it
   * up as lost, without waiting to hear "expired" from a server (default: the
   * granted session timeout). A master cut off from ZooKeeper never hears that
   * its session expired — the server only says so when it reconnects — while
   * the others already elected its successor; so, like Curator, we count the
   * time ourselves. `Infinity` waits for the server's word only.
   */
  lostAfterDisconnectedMs?: number;
  /**
   * Logging of the native C client (default: `OFS_ZK_LOG` or 'silent'). Even
   * at 'error' it writes a line per failed reconnect to stderr and some to
   * stdout, which would corrupt a CLI's output; the session's own events
   * (disconnected, reconnected, expired) say the same thing once.
   */
  nativeLogLevel?: NativeLogLevel;
  /** Gives up on connecting when aborted (rejects with EUNAVAILABLE), leaving nothing behind. */
  signal?: AbortSignal;
  /**
   * Keep-alive reads (see ZkSession.touch; default true). A process that owns
   * no ephemeral znodes loses nothing with its session and takes a new one
   * (RenewingZkSession), so it need not pay for them: a process holding many
   * clients would send hundreds a second.
   */
  keepAlive?: boolean;
  /**
   * The cluster's `ofs:<secret>` (security/keys.ts): the session authenticates
   * with it, and the znodes it creates may be written by holders of it only
   * (read by anyone: clients find the master). Without it, znodes are open.
   */
  digest?: string;
}

export type NativeLogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';

export type SessionState = 'connected' | 'disconnected' | 'expired' | 'closed';

/**
 * Why a session ended against its owner's will: the server expired it, this
 * process was cut off for longer than `lostAfterDisconnectedMs`, or the server
 * refused its credentials.
 */
export type SessionLoss = 'expired' | 'disconnected-too-long' | 'auth-failed';

/** Every way a session ends: lost, or closed on purpose by `close()`. */
export type SessionEnd = SessionLoss | 'closed';

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/**
 * The session timeout every OFS process asks for unless told otherwise: how
 * long after a crash the active master is replaced. The native client (the
 * `zookeeper` package links the single-threaded libzookeeper_st and drives
 * it from libuv) sends only when this process's event loop runs, so an
 * event loop blocked for most of it (9/10, with the keep-alive) may cost
 * the session. docs/design.md ("Session timeout") compares that with the
 * stalls measured here.
 */
export const DEFAULT_SESSION_TIMEOUT_MS = 1500;

/**
 * A chunkserver's, unless told otherwise. Its session only tells the master
 * sooner than missed heartbeats that it is gone, and losing it costs a
 * restart in the middle of its writes; a chunkserver just started under a
 * loaded test run stalled 1.7 s (measured), so it keeps the longer session.
 */
export const CHUNKSERVER_SESSION_TIMEOUT_MS = 4000;

/** Keep-alive reads per session timeout (see ZkSession.touch). */
const KEEP_ALIVE_PER_TIMEOUT = 10;

const NATIVE_LOG_LEVELS: Record<NativeLogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** `close` code of the native client when the server refused our credentials (`ZOO_AUTH_FAILED_STATE`). */
const CLOSED_AUTH_FAILED = -113;

/** `host:port[,host:port...]`, optionally followed by a chroot path (`/ofs-test`). */
const CONNECT_STRING = /^[^\s,/]+:\d{1,5}(,[^\s,/]+:\d{1,5})*(\/[^\s]*)?$/;

/**
 * Connects to ZooKeeper and resolves once a server has granted a session.
 * Rejects with EUNAVAILABLE if none does within `connectTimeoutMs`, and then
 * leaves nothing behind that keeps the process alive.
 */
export async function connectZk(connect: string, options: ConnectOptions = {}): Promise<ZkSession> {
  if (!CONNECT_STRING.test(connect)) {
    throw new OfsError('EINVAL', `bad ZooKeeper address "${connect}": expected host:port[,host:port...][/chroot]`);
  }
  if (options.signal?.aborted) throw givenUp(connect);
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const client = new ZooKeeper({
    connect,
    timeout: options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
    debug_level: NATIVE_LOG_LEVELS[options.nativeLogLevel ?? nativeLogLevelFromEnv()],
    host_order_deterministic: false,
  });

  return new Promise<ZkSession>((resolve, reject) => {
    const cleanUp = (): void => {
      clearTimeout(timer);
      client.removeListener('connect', onConnect);
      client.removeListener('close', onClose);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: OfsError): void => {
      cleanUp();
      // The C client would retry forever; closing it stops its timer and socket
      // so that a CLI that cannot reach ZooKeeper exits instead of hanging.
      client.close();
      reject(err);
    };
    const onConnect = (): void => {
      cleanUp();
      const session = new ZkSession(client, connect, options.lostAfterDisconnectedMs, options.keepAlive ?? true, options.digest ? membersOnlyAcl(options.digest) : undefined);
      if (!options.digest) return resolve(session);
      // The native client sends it again itself on every reconnection.
      client.add_auth('digest', options.digest, (rc: number) => {
        if (rc === 0) return resolve(session);
        void session.close();
        reject(new OfsError('EACCES', `ZooKeeper at ${connect} refused the cluster's digest credentials (code ${rc})`));
      });
    };
    const onClose = (_client: unknown, code: number): void => {
      fail(new OfsError('EUNAVAILABLE', `ZooKeeper at ${connect} ended the session before it was established (code ${code})`));
    };
    const timer = setTimeout(() => {
      fail(
        new OfsError(
          'EUNAVAILABLE',
          `cannot reach ZooKeeper at ${connect} within ${connectTimeoutMs / 1000} s: is it running? ` +
            '(start one with: ofs zookeeper --dir DIR)',
        ),
      );
    }, connectTimeoutMs);
    const onAbort = (): void => fail(givenUp(connect));
    options.signal?.addEventListener('abort', onAbort);
    client.on('connect', onConnect);
    client.on('close', onClose);
    client.init({});
    // A name that does not resolve makes zookeeper_init fail at once, leaving
    // the handle unset (state 0) instead of connecting (state 1).
    if (client.state === 0) fail(new OfsError('EUNAVAILABLE', `cannot resolve ZooKeeper address ${connect}`));
  });
}

function givenUp(connect: string): OfsError {
  return new OfsError('EUNAVAILABLE', `connecting to ZooKeeper at ${connect} was given up`);
}

function nativeLogLevelFromEnv(): NativeLogLevel {
  const level = process.env.OFS_ZK_LOG;
  return level !== undefined && level in NATIVE_LOG_LEVELS ? (level as NativeLogLevel) : 'silent';
}

type Listener<A extends unknown[]> = (...args: A) => void | Promise<void>;

/**
 * One ZooKeeper session. Its state goes connected ⇄ disconnected, and ends in
 * expired (lost: its ephemeral znodes are gone or about to go) or closed (on
 * purpose). The native client must never be used once it has closed, so the
 * helpers of src/zk check `assertUsable()` first.
 */
export class ZkSession {
  private current: SessionState = 'connected';
  private lostTimer: NodeJS.Timeout | undefined;
  private readonly keepAliveTimer: NodeJS.Timeout | undefined;
  private touching = false;
  /** When the newest keep-alive the server answered was sent (performance.now()); the session's start until then. */
  private heardAt = performance.now();
  private readonly expiredListeners = new Set<Listener<[SessionLoss]>>();
  private readonly endedListeners = new Set<Listener<[SessionEnd]>>();
  private readonly disconnectedListeners = new Set<Listener<[]>>();
  private readonly reconnectedListeners = new Set<Listener<[]>>();
  private endReason: SessionEnd | undefined;
  /** The session id as ZooKeeper prints it (hex), also the `ephemeralOwner` of our znodes. */
  readonly id: string;
  /** The session timeout the server granted, in milliseconds. */
  readonly sessionTimeoutMs: number;

  /** Use `connectZk`; this wraps a client that has just connected. */
  constructor(
    readonly client: ZkClient,
    readonly connect: string,
    private readonly lostAfterDisconnectedMs?: number,
    keepAlive = true,
    /** The ACL `protect` puts on the znodes this session creates; none: they stay open. */
    private readonly acl?: ZkAcl,
  ) {
    this.id = String(client.client_id);
    this.sessionTimeoutMs = client.timeout;
    client.on('connecting', () => this.disconnected());
    client.on('connect', () => this.reconnected());
    client.on('close', (_client: unknown, code: number) => this.nativeClosed(code));
    if (keepAlive) {
      this.keepAliveTimer = setInterval(() => this.touch(), Math.max(50, Math.round(this.sessionTimeoutMs / KEEP_ALIVE_PER_TIMEOUT)));
      this.keepAliveTimer.unref();
    }
  }

  get state(): SessionState {
    return this.current;
  }

  /** True while the session may still be used (connected, or disconnected and not yet lost). */
  get isOpen(): boolean {
    return this.current === 'connected' || this.current === 'disconnected';
  }

  /** Called once if the session is lost (never after `close()`); at once if it already was. */
  onExpired(listener: Listener<[SessionLoss]>): () => void {
    if (this.endReason !== undefined && this.endReason !== 'closed') {
      const reason = this.endReason;
      queueMicrotask(() => void listener(reason));
      return () => {};
    }
    return subscribe(this.expiredListeners, listener);
  }

  /** Called once when the session ends for any reason, `close()` included; at once if it has. */
  onEnded(listener: Listener<[SessionEnd]>): () => void {
    if (this.endReason !== undefined) {
      const reason = this.endReason;
      queueMicrotask(() => void listener(reason));
      return () => {};
    }
    return subscribe(this.endedListeners, listener);
  }

  /**
   * Called when the connection to the server drops. The session (and our
   * ephemeral znodes) may still be alive; an active master should stop
   * answering until `onReconnected`, as it cannot know yet.
   */
  onDisconnected(listener: Listener<[]>): () => void {
    return subscribe(this.disconnectedListeners, listener);
  }

  /** Called when a dropped connection is re-established with the same session. */
  onReconnected(listener: Listener<[]>): () => void {
    return subscribe(this.reconnectedListeners, listener);
  }

  /** Resolves when the session is connected; rejects with EUNAVAILABLE if it ends first. */
  whenConnected(): Promise<void> {
    if (this.current === 'connected') return Promise.resolve();
    if (!this.isOpen) return Promise.reject(this.endedError());
    return new Promise((resolve, reject) => {
      const offReconnected = this.onReconnected(() => {
        offEnded();
        resolve();
      });
      const offEnded = this.onEnded(() => {
        offReconnected();
        reject(this.endedError());
      });
    });
  }

  /**
   * Puts this session's ACL on `path`, which it just created. The `zookeeper`
   * package creates every znode open to all (its create takes no ACL), so
   * for a moment anyone could write the new znode's data; not create or
   * delete it, which its parent's ACL forbids. A member's address written
   * there in that moment would lead nowhere: the process there has no
   * cluster key, and the CURVE handshake with it fails.
   */
  async protect(path: string): Promise<void> {
    const { acl } = this;
    if (acl) await withReconnect(this, () => this.client.set_acl(path, -1, acl));
  }

  /** Throws EUNAVAILABLE once the session has ended: the native client must not be touched then. */
  assertUsable(): void {
    if (!this.isOpen) throw this.endedError();
  }

  /**
   * Ends the session. When connected, the server deletes our ephemeral znodes
   * before this returns (the C client waits up to 1.5 s for its answer), so
   * the others see us gone at once rather than after the session timeout.
   */
  async close(): Promise<void> {
    if (!this.isOpen) return;
    this.end('closed');
  }

  /**
   * The native client pings only after a third of the timeout without
   * sending anything, so a process stalled just before a ping was due has
   * only 2/3 of the timeout left before the server expires it. A tiny read
   * every tenth of the timeout keeps the server's last sight of us recent:
   * a stall must then last 9/10 of the timeout to cost the session.
   */
  private touch(): void {
    if (this.current !== 'connected' || this.touching) return;
    this.touching = true;
    const sentAt = performance.now();
    this.client.a_exists('/', false, (rc: number) => {
      this.touching = false;
      if (rc === 0) this.heardAt = Math.max(this.heardAt, sentAt);
    });
  }

  /**
   * How long, at least, the session is sure to last if the server hears
   * nothing more from us: the server had our last keep-alive that it answered
   * before it answered, so it expires the session no sooner than the timeout
   * after that keep-alive was sent. Negative once that time has passed. A
   * process cut off from every server learns it is disconnected only after
   * 2/3 of the timeout; this says sooner, and whatever the event loop did
   * meanwhile. Counts only with the keep-alive on.
   */
  confirmedForMs(): number {
    return this.heardAt + this.sessionTimeoutMs - performance.now();
  }

  private disconnected(): void {
    if (this.current !== 'connected') return;
    this.current = 'disconnected';
    const graceMs = this.lostAfterDisconnectedMs ?? this.sessionTimeoutMs;
    if (Number.isFinite(graceMs)) {
      this.lostTimer = setTimeout(() => this.end('disconnected-too-long'), graceMs);
      this.lostTimer.unref();
    }
    notify(this.disconnectedListeners);
  }

  private reconnected(): void {
    if (this.current !== 'disconnected') return;
    clearTimeout(this.lostTimer);
    this.current = 'connected';
    notify(this.reconnectedListeners);
  }

  private nativeClosed(code: number): void {
    if (!this.isOpen) return; // we closed it ourselves, in end()
    if (code === CLOSED_AUTH_FAILED) this.end('auth-failed');
    else if (code === 0) this.end('closed'); // someone called client.close() directly
    // -112 (ZOO_EXPIRED_SESSION_STATE): the server said so on reconnecting, or the
    // native client gave up on a server that kept sending nothing.
    else this.end('expired');
  }

  private end(reason: SessionEnd): void {
    if (!this.isOpen) return;
    clearTimeout(this.lostTimer);
    clearInterval(this.keepAliveTimer);
    this.endReason = reason;
    this.current = reason === 'closed' ? 'closed' : 'expired';
    // Synchronously emits 'close' (code 0), which nativeClosed ignores as the state has moved on.
    this.client.close();
    // Ended first: the modules of src/zk (elections, watches) update their state
    // there, so that an onExpired listener already sees e.g. isActive() false.
    notify(this.endedListeners, reason);
    if (reason !== 'closed') notify(this.expiredListeners, reason);
    this.expiredListeners.clear();
    this.endedListeners.clear();
    this.disconnectedListeners.clear();
    this.reconnectedListeners.clear();
  }

  private endedError(): OfsError {
    const why = this.endReason === 'closed' ? 'was closed' : `is lost (${this.endReason ?? 'unknown'})`;
    return new OfsError('EUNAVAILABLE', `ZooKeeper session 0x${this.id} to ${this.connect} ${why}`);
  }
}

/**
 * Runs an idempotent request, retrying it when the connection drops: it is
 * sent again once the session is connected. Other errors are thrown as they
 * are (raw, so that callers can look at the ZooKeeper code); a session that
 * ends while waiting gives EUNAVAILABLE.
 *
 * With a `deadline` (epoch ms) nothing waits past it: the request and the
 * wait for a reconnection are cut off there with EUNAVAILABLE naming
 * ZooKeeper and `doing`. Without one the wait is bounded by the session
 * itself, which ends after `lostAfterDisconnectedMs` disconnected.
 */
export async function withReconnect<T>(
  session: ZkSession,
  request: () => Promise<T>,
  bound?: { deadline: number; doing: string },
): Promise<T> {
  const timely = <V>(promise: Promise<V>): Promise<V> => (bound ? beforeDeadline(session, promise, bound.deadline, bound.doing) : promise);
  for (;;) {
    session.assertUsable();
    try {
      return await timely(request());
    } catch (err) {
      if (err instanceof OfsError) throw err; // the deadline passed
      session.assertUsable(); // ended while the request was out: say so, not "zookeeper is closing"
      if (!isConnectionError(err)) throw err;
      await timely(session.whenConnected());
    }
  }
}

/**
 * `promise`, or EUNAVAILABLE at `deadline`. An abandoned ZooKeeper request
 * still settles later (the native client fails it with the connection); its
 * result is ignored.
 */
export function beforeDeadline<T>(session: ZkSession, promise: Promise<T>, deadline: number, doing: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new OfsError('EUNAVAILABLE', `ZooKeeper at ${session.connect} did not answer in time while ${doing} (session ${session.state})`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  promise.catch(() => {}); // lost the race: its rejection is nobody's
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function subscribe<T>(set: Set<T>, listener: T): () => void {
  set.add(listener);
  return () => void set.delete(listener);
}

/**
 * Listeners run on a microtask, outside the native client's callback, each on
 * its own: one that throws crashes the process loudly, as an EventEmitter's
 * would, without having stopped the others.
 */
function notify<A extends unknown[]>(listeners: Set<Listener<A>>, ...args: A): void {
  for (const listener of [...listeners]) queueMicrotask(() => void listener(...args));
}
