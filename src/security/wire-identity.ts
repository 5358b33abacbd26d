import type { KeyObject } from 'node:crypto';
import { OfsError } from '../core/errors.js';
import { readKeyFile, readRoster, readUserKeyFile, rosterVersion, type Roster } from './keys.js';
import { roleToken, signingKey } from './role-token.js';
import type { Role } from './roles.js';

/** The ZAP domain of every OFS server socket: the ZAP handler answers for it alone. */
export const ZAP_DOMAIN = 'ofs';
/** How often at most a process looks at roster.json again for new users. */
const ROSTER_CHECK_MS = 1000;

/**
 * One process's credentials on the wire: its role's CURVE key pair (the
 * same for the sockets it serves on and the ones it calls from), its role's
 * signing key for role tokens, and the roster of every role's public keys.
 * The secret keys are private fields: logging or serialising this object
 * cannot print them.
 */
export class WireIdentity {
  readonly #curveSecretKey: string;
  readonly #signKey: KeyObject;
  readonly #tokens = new Map<string, string>();
  #roster: Roster;
  #rosterCheckedAt = 0;
  #rosterVersion: string | undefined;

  private constructor(
    readonly role: Role,
    /** Who its role tokens name: the role kind, or a user's name (role-token.ts). */
    readonly principal: string,
    readonly curvePublicKey: string,
    curveSecretKey: string,
    signKey: KeyObject,
    roster: Roster,
    /** The keys directory it came from: where `refreshUsers` looks. */
    private readonly dir: string,
  ) {
    this.#curveSecretKey = curveSecretKey;
    this.#signKey = signKey;
    this.#roster = roster;
  }

  /** The roster as last read: a new object whenever `refreshUsers` found new users. */
  get roster(): Roster {
    return this.#roster;
  }

  /**
   * Takes the users of roster.json again if the file changed since it was
   * read (`ofs keys add-user` on a running cluster), looking at most once
   * per ROSTER_CHECK_MS: a server asks when a key or token it does not know
   * comes, and a flood of those costs a stat a second. Only the users are
   * taken: the role keys are the ones this process started with. True if
   * the users changed.
   */
  async refreshUsers(now = Date.now()): Promise<boolean> {
    if (now - this.#rosterCheckedAt < ROSTER_CHECK_MS) return false;
    this.#rosterCheckedAt = now;
    const version = await rosterVersion(this.dir);
    if (version === undefined || version === this.#rosterVersion) return false;
    this.#rosterVersion = version;
    const fresh = await readRoster(this.dir).catch(() => undefined);
    if (!fresh || JSON.stringify(fresh.users ?? {}) === JSON.stringify(this.#roster.users ?? {})) return false;
    this.#roster = { ...this.#roster, users: fresh.users };
    return true;
  }

  /** The identity of `role` from keys directory `dir`. */
  static async load(dir: string, role: Role): Promise<WireIdentity> {
    const [roster, key] = await Promise.all([readRoster(dir), readKeyFile(dir, role)]);
    if (roster.roles[role].curve !== key.curve.publicKey) {
      throw new OfsError('EINVAL', `the ${role} key in ${dir} is not the one its roster.json lists: the files come from different clusters`);
    }
    return new WireIdentity(role, role, key.curve.publicKey, key.curve.secretKey, signingKey(key.sign.secretKey), roster, dir);
  }

  /**
   * A caller of the file system: user `user`'s key from keys directory
   * `dir`. `client` is the client key's user; `operator`, the operator key's,
   * the superuser (README, "Security").
   */
  static async loadUser(dir: string, user: string): Promise<WireIdentity> {
    if (user === 'client' || user === 'operator') return WireIdentity.load(dir, user);
    const [roster, key] = await Promise.all([readRoster(dir), readUserKeyFile(dir, user)]);
    if (roster.users?.[user]?.curve !== key.curve.publicKey) {
      throw new OfsError('EINVAL', `user ${user}'s key in ${dir} is not the one its roster.json lists: add the user with ofs keys add-user, or use the roster that came with the key`);
    }
    return new WireIdentity('client', user, key.curve.publicKey, key.curve.secretKey, signingKey(key.sign.secretKey), roster, dir);
  }

  /** Socket options of a connection to a server of role `server`. */
  clientOptions(server: Role): { curveServerKey: string; curvePublicKey: string; curveSecretKey: string } {
    return { curveServerKey: this.roster.roles[server].curve, curvePublicKey: this.curvePublicKey, curveSecretKey: this.#curveSecretKey };
  }

  /** Socket options of a server socket: CURVE, with clients vetted by the ZAP handler of ZAP_DOMAIN. */
  serverOptions(): { curveServer: true; curveSecretKey: string; zapDomain: string } {
    return { curveServer: true, curveSecretKey: this.#curveSecretKey, zapDomain: ZAP_DOMAIN };
  }

  /** The role token for calls to `address` (role-token.ts), signed once per address. */
  token(address: string): string {
    let token = this.#tokens.get(address);
    if (!token) this.#tokens.set(address, (token = roleToken(this.principal, this.#signKey, address)));
    return token;
  }

  toJSON(): { role: Role; principal: string; curvePublicKey: string } {
    return { role: this.role, principal: this.principal, curvePublicKey: this.curvePublicKey };
  }
}
