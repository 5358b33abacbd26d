import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Capability tokens for chunk bytes, as HDFS's block tokens: the master,
 * which knows who may touch which file, grants one per chunk with its
 * lease and locate replies; a chunkserver, which knows nothing of files,
 * checks it on every request that moves a client's bytes. An HMAC, not a
 * signature: only masters and chunkservers hold the key, and checking one
 * costs a microsecond on the data path. Pure: the key and the time are
 * passed in.
 */

export type ChunkAccess = 'read' | 'write';

/** What a token allows: one access to one version of one chunk, by one named requester, until `expiresAt`. */
export interface ChunkGrant {
  chunkId: string;
  version: number;
  access: ChunkAccess;
  /**
   * Who the master granted it to: the verified user that asked (or, for a
   * copy, the target chunkserver's id). Checked where the caller is verified
   * too (a control socket); on the data socket a token is a bearer's.
   */
  client: string;
  /** Wall-clock ms (the master's clock: chunkservers' clocks must agree within seconds). */
  expiresAt: number;
}

/** What a request wants: `client` is its verified caller, none when it proves no one (or is a chunkserver's). */
export type WantedAccess = Omit<ChunkGrant, 'expiresAt' | 'client'> & { client: string | undefined };

export interface ChunkToken extends ChunkGrant {
  /** HMAC-SHA256 of the grant, base64url. */
  mac: string;
}

/**
 * How long a token is good for: longer than any lease term, so a writer's
 * cached lease never outlives its token, and short enough that a token seen
 * on a plain data socket is soon worth nothing. A client asks again
 * (locate, lease) when its token is this close to expiring.
 */
export const CHUNK_TOKEN_LIFETIME_MS = 10 * 60_000;
export const CHUNK_TOKEN_RENEW_MARGIN_MS = 60_000;

/** The bytes MACed: a JSON array, so no field's text can pass for another's. */
function macOf(key: Buffer, grant: ChunkGrant): Buffer {
  const text = JSON.stringify(['ofs-chunk-token-v1', grant.chunkId, grant.version, grant.access, grant.client, grant.expiresAt]);
  return createHmac('sha256', key).update(text).digest();
}

export function mintChunkToken(key: Buffer, grant: ChunkGrant): ChunkToken {
  const { chunkId, version, access, client, expiresAt } = grant;
  return { chunkId, version, access, client, expiresAt, mac: macOf(key, grant).toString('base64url') };
}

/**
 * Why `token` does not allow `wanted` at `now`, or undefined if it does.
 * The MAC first: nothing a forged token says is worth repeating.
 */
export function chunkTokenRefusal(key: Buffer, token: ChunkToken | undefined, wanted: WantedAccess, now: number): string | undefined {
  if (!token) return 'it carries no capability token (the master grants one with master.locate and master.lease)';
  const mac = Buffer.from(token.mac, 'base64url');
  const expected = macOf(key, token);
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return 'its capability token is forged or damaged: the MAC does not match';
  if (token.expiresAt <= now) return `its capability token expired at ${new Date(token.expiresAt).toISOString()}, ${now - token.expiresAt} ms ago: ask the master again`;
  if (token.chunkId !== wanted.chunkId) return `its capability token is for chunk ${token.chunkId}, not chunk ${wanted.chunkId}`;
  if (token.version !== wanted.version) return `its capability token is for version ${token.version} of chunk ${token.chunkId}, not version ${wanted.version}`;
  if (token.access !== wanted.access) return `its capability token allows ${token.access}, not ${wanted.access}`;
  if (wanted.client !== undefined && token.client !== wanted.client) return `its capability token was granted to ${token.client}, not ${wanted.client}`;
  return undefined;
}

/** Whether a client should ask the master for a fresh token before using `token` (none: the cluster runs without tokens). */
export function chunkTokenStale(token: ChunkToken | undefined, now: number): boolean {
  return token !== undefined && token.expiresAt - now < CHUNK_TOKEN_RENEW_MARGIN_MS;
}

/** A master's minting of tokens: its key and clock, a lifetime from now. */
export class ChunkTokenIssuer {
  readonly #key: Buffer;

  constructor(
    key: Buffer,
    private readonly now: () => number = Date.now,
    private readonly lifetimeMs = CHUNK_TOKEN_LIFETIME_MS,
  ) {
    this.#key = key;
  }

  issue(chunkId: string, version: number, access: ChunkAccess, client: string): ChunkToken {
    return mintChunkToken(this.#key, { chunkId, version, access, client, expiresAt: this.now() + this.lifetimeMs });
  }

  toJSON(): string {
    return 'ChunkTokenIssuer';
  }
}

/** A chunkserver's checking of tokens: its key and clock. */
export class ChunkTokenVerifier {
  readonly #key: Buffer;

  constructor(
    key: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.#key = key;
  }

  refusal(token: ChunkToken | undefined, wanted: WantedAccess): string | undefined {
    return chunkTokenRefusal(this.#key, token, wanted, this.now());
  }

  toJSON(): string {
    return 'ChunkTokenVerifier';
  }
}
