import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { ROLES, type Role } from './roles.js';
import type { Roster } from './keys.js';

/**
 * Which role sent a message. CURVE and the ZAP handler admit only the
 * roster's keys, but zeromq.js cannot say which key sent a given message (it
 * has no zmq_msg_gets), and ZAP never sees the peer's routing id. So each
 * envelope carries a role token: the sender's role and its Ed25519 signature
 * over that role and the address of the server it calls. The server checks
 * it against the roster's signing key for the role. Bound to the server's
 * address, a token a chunkserver receives from a master is worth nothing at
 * another chunkserver; it travels inside CURVE's encryption, so nobody else
 * sees one. A server verifies each distinct token once (they are the same on
 * every message of a peer).
 */

const TOKEN = /^([a-z]+):([A-Za-z0-9_-]{86})$/;
/** Distinct tokens a server remembers: one per role and address calling it, so a handful. */
const MAX_REMEMBERED = 1024;

function signedText(role: Role, address: string): Buffer {
  return Buffer.from(`ofs-role-v1\n${role}\n${address}`);
}

export function signingKey(base64Der: string): KeyObject {
  return createPrivateKey({ key: Buffer.from(base64Der, 'base64'), format: 'der', type: 'pkcs8' });
}

export function roleToken(role: Role, key: KeyObject, address: string): string {
  return `${role}:${sign(null, signedText(role, address), key).toString('base64url')}`;
}

export class RoleTokenVerifier {
  private readonly keys: Map<Role, KeyObject>;
  private readonly known = new Map<string, Role>();

  /** Tokens signed for `address`, this server's. */
  constructor(
    roster: Roster,
    private readonly address: string,
  ) {
    this.keys = new Map(ROLES.map((role) => [role, createPublicKey({ key: Buffer.from(roster.roles[role].sign, 'base64'), format: 'der', type: 'spki' })]));
  }

  /** The role `token` proves, or undefined for a missing, malformed or forged one. */
  roleOf(token: string | undefined): Role | undefined {
    if (token === undefined) return undefined;
    const remembered = this.known.get(token);
    if (remembered) return remembered;
    const match = TOKEN.exec(token);
    const role = match?.[1] as Role | undefined;
    const key = role && this.keys.get(role);
    if (!key || !verify(null, signedText(role, this.address), key, Buffer.from(match![2]!, 'base64url'))) return undefined;
    // Only verified tokens are remembered, so a flood of forged ones cannot grow this.
    if (this.known.size >= MAX_REMEMBERED) this.known.clear();
    this.known.set(token, role);
    return role;
  }
}
