import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { SUPERGROUP, type Caller } from '../core/permissions.js';
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
 *
 * A token names a principal: a role kind, or a user (`ofs keys add-user`),
 * whose role is `client`. The principal is who the master checks file
 * permissions for (core/permissions.ts): the `client` key is the user
 * `client`, the operator key is the superuser, and so are masters (the web
 * console, a standby's status checks) calling a master as clients.
 */

const TOKEN = /^([a-z_][a-z0-9_-]{0,31}):([A-Za-z0-9_-]{86})$/;
/** Distinct tokens a server remembers: one per role and address calling it, so a handful. */
const MAX_REMEMBERED = 1024;

function signedText(principal: string, address: string): Buffer {
  return Buffer.from(`ofs-role-v1\n${principal}\n${address}`);
}

export function signingKey(base64Der: string): KeyObject {
  return createPrivateKey({ key: Buffer.from(base64Der, 'base64'), format: 'der', type: 'pkcs8' });
}

/** `principal`: a role kind, or the name of a user (whose role is client). */
export function roleToken(principal: string, key: KeyObject, address: string): string {
  return `${principal}:${sign(null, signedText(principal, address), key).toString('base64url')}`;
}

/** Who a verified token speaks for: the role (what it may send) and the user (what it may touch). */
export interface Principal {
  role: Role;
  caller: Caller;
}

/** Every principal of `roster`, by name, with its signing key. */
function principals(roster: Roster): Map<string, Principal & { key: KeyObject }> {
  const publicKey = (der: string) => createPublicKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'spki' });
  const entries = ROLES.map((role): [string, Principal & { key: KeyObject }] => [
    role,
    { role, key: publicKey(roster.roles[role].sign), caller: { user: role, groups: role === 'client' ? [] : [SUPERGROUP], superuser: role === 'operator' || role === 'master' } },
  ]);
  for (const [user, keys] of Object.entries(roster.users ?? {})) {
    entries.push([user, { role: 'client', key: publicKey(keys.sign), caller: { user, groups: keys.groups, superuser: false } }]);
  }
  return new Map(entries);
}

export class RoleTokenVerifier {
  private principals = new Map<string, Principal & { key: KeyObject }>();
  private builtFrom: Roster | undefined;
  private readonly known = new Map<string, Principal>();

  /** Tokens signed for `address`, this server's; `roster` is the roster as it is now (users may be added). */
  constructor(
    private readonly roster: () => Roster,
    private readonly address: string,
  ) {}

  /** Who `token` proves the sender is, or undefined for a missing, malformed or forged one. */
  principalOf(token: string | undefined): Principal | undefined {
    if (token === undefined) return undefined;
    const remembered = this.known.get(token);
    if (remembered) return remembered;
    const roster = this.roster();
    if (roster !== this.builtFrom) {
      this.principals = principals(roster);
      this.builtFrom = roster;
    }
    const match = TOKEN.exec(token);
    const name = match?.[1];
    const found = name === undefined ? undefined : this.principals.get(name);
    if (!found || !verify(null, signedText(name!, this.address), found.key, Buffer.from(match![2]!, 'base64url'))) return undefined;
    const principal = { role: found.role, caller: found.caller };
    // Only verified tokens are remembered, so a flood of forged ones cannot grow this.
    if (this.known.size >= MAX_REMEMBERED) this.known.clear();
    this.known.set(token, principal);
    return principal;
  }
}
