import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { curveKeyPair } from 'zeromq';
import { z } from 'zod';
import { OfsError } from '../core/errors.js';
import { checkName, NAME_PATTERN } from '../core/permissions.js';
import { ROLES, type Role } from './roles.js';
import { Z85_KEY } from './z85.js';

/**
 * A cluster's keys directory (`ofs keys init`, or DIR/keys of `ofs cluster
 * up`): one key file per role kind, the roster of every role's public keys,
 * the ZooKeeper digest secret, and the key of chunk capability tokens
 * (chunk-token.ts). Every file is mode 0600 and refused when it is readable
 * by others. A process needs the roster and its own role's file; masters and
 * chunkservers also the digest and the token key; a client machine gets
 * `roster.json` and `client.key` only.
 *
 * Users (`ofs keys add-user`) have keys of the client's shape in
 * `users/NAME.key`, and the roster lists each with its groups: their role
 * is client, and the master checks file permissions for them by name
 * (core/permissions.ts). The `client.key` is the user `client`.
 */

const ROSTER_FILE = 'roster.json';
const ZK_DIGEST_FILE = 'zk-digest';
const CHUNK_TOKEN_KEY_FILE = 'chunk-token.key';
const keyFileName = (role: Role) => `${role}.key`;
const USERS_DIR = 'users';
const userKeyFile = (dir: string, user: string) => join(dir, USERS_DIR, `${user}.key`);

const z85Key = z.string().regex(Z85_KEY, 'a CURVE key is 40 characters of Z85');
const base64Der = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'a signing key is base64 DER').max(200);

const publicKeysSchema = z.strictObject({ curve: z85Key, sign: base64Der });
const userName = z.string().regex(NAME_PATTERN, 'a user or group name is 1 to 32 of a-z, 0-9, _ and -');
const userSchema = publicKeysSchema.extend({ groups: z.array(userName).max(64) });
const rosterSchema = z.strictObject({
  roles: z.strictObject(Object.fromEntries(ROLES.map((r) => [r, publicKeysSchema])) as Record<Role, typeof publicKeysSchema>),
  /** Absent before the first `ofs keys add-user`. */
  users: z.record(userName, userSchema).optional(),
});
const keyFileSchema = z.strictObject({
  role: z.enum(ROLES),
  /** A user's key: its name (its role is client). */
  user: userName.optional(),
  curve: z.strictObject({ publicKey: z85Key, secretKey: z85Key }),
  sign: z.strictObject({ publicKey: base64Der, secretKey: base64Der }),
});
/** `user:password`, as ZooKeeper's digest scheme takes it. */
const zkDigestSchema = z.string().regex(/^ofs:[0-9a-f]{32,128}$/, 'the ZooKeeper digest is ofs:<hex secret>');
/** 32 random bytes in hex: HMAC-SHA256's key size. */
const chunkTokenKeySchema = z.string().regex(/^[0-9a-f]{64}$/, 'the chunk token key is 64 hex digits');

export type PublicKeys = z.infer<typeof publicKeysSchema>;
export type Roster = z.infer<typeof rosterSchema>;
export type KeyFile = z.infer<typeof keyFileSchema>;

/** Makes a new cluster's keys in `dir`. Refused with EEXIST, changing nothing, if any of them is there already. */
export async function initKeys(dir: string): Promise<void> {
  const names = [ROSTER_FILE, ZK_DIGEST_FILE, CHUNK_TOKEN_KEY_FILE, ...ROLES.map(keyFileName)];
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const name of names) {
    if (await exists(join(dir, name))) throw new OfsError('EEXIST', `${join(dir, name)} exists: ${dir} already holds keys (remove them to make new ones)`);
  }
  const keys = ROLES.map(newKeyFile);
  const roster: Roster = { roles: Object.fromEntries(keys.map((k) => [k.role, { curve: k.curve.publicKey, sign: k.sign.publicKey }])) as Roster['roles'] };
  for (const key of keys) await writeSecret(join(dir, keyFileName(key.role)), `${JSON.stringify(key, null, 2)}\n`);
  await writeSecret(join(dir, ZK_DIGEST_FILE), `ofs:${randomBytes(24).toString('hex')}\n`);
  await writeSecret(join(dir, CHUNK_TOKEN_KEY_FILE), `${randomBytes(32).toString('hex')}\n`);
  // Last: its presence says the directory is complete (ensureKeys).
  await writeSecret(join(dir, ROSTER_FILE), `${JSON.stringify(roster, null, 2)}\n`);
}

/** `ofs cluster up`: the keys in `dir`, made if it holds none. */
export async function ensureKeys(dir: string): Promise<void> {
  if (!(await exists(join(dir, ROSTER_FILE)))) await initKeys(dir);
}

/** Which version of roster.json is there (add-user renames a new file over it: a new inode), or undefined if it cannot be looked at. */
export async function rosterVersion(dir: string): Promise<string | undefined> {
  return stat(join(dir, ROSTER_FILE)).then((s) => `${s.ino}:${s.mtimeMs}`, () => undefined);
}

export async function readRoster(dir: string): Promise<Roster> {
  return parse(join(dir, ROSTER_FILE), rosterSchema, (text) => JSON.parse(text) as unknown);
}

export async function readKeyFile(dir: string, role: Role): Promise<KeyFile> {
  const path = join(dir, keyFileName(role));
  const key = await parse(path, keyFileSchema, (text) => JSON.parse(text) as unknown);
  if (key.role !== role || key.user !== undefined) throw new OfsError('EINVAL', `${path} holds the ${key.user ?? key.role} key, not the ${role} key`);
  return key;
}

export async function readUserKeyFile(dir: string, user: string): Promise<KeyFile> {
  const path = userKeyFile(dir, user);
  const key = await parse(path, keyFileSchema, (text) => JSON.parse(text) as unknown);
  if (key.user !== user) throw new OfsError('EINVAL', `${path} holds the ${key.user ?? key.role} key, not user ${user}'s`);
  return key;
}

/**
 * `ofs keys add-user`: a key for user `name` in DIR/users/NAME.key, and the
 * user in the roster with its groups. The roster is replaced whole (a new
 * file renamed over it), so a process reading it sees the old or the new.
 * A running process takes the new user the next time an unknown key
 * connects to it (the ZAP handler calls WireIdentity.refreshUsers).
 */
export async function addUser(dir: string, name: string, groups: readonly string[]): Promise<string> {
  checkName('user', name);
  for (const group of groups) checkName('group', group);
  if ((ROLES as readonly string[]).includes(name)) throw new OfsError('EINVAL', `${name} is a role's name (${ROLES.join(', ')}): pick another user name`);
  const roster = await readRoster(dir);
  if (roster.users?.[name]) throw new OfsError('EEXIST', `user ${name} is in ${join(dir, ROSTER_FILE)} already`);
  const key: KeyFile = { ...newKeyFile('client'), user: name };
  const path = userKeyFile(dir, name);
  await mkdir(join(dir, USERS_DIR), { recursive: true, mode: 0o700 });
  await writeSecret(path, `${JSON.stringify(key, null, 2)}\n`);
  const next: Roster = { ...roster, users: { ...roster.users, [name]: { curve: key.curve.publicKey, sign: key.sign.publicKey, groups: [...new Set(groups)] } } };
  const temporary = join(dir, `${ROSTER_FILE}.${randomBytes(6).toString('hex')}`);
  await writeSecret(temporary, `${JSON.stringify(next, null, 2)}\n`);
  await rename(temporary, join(dir, ROSTER_FILE));
  return path;
}

/** The `user:password` that members of the cluster add to their ZooKeeper sessions. */
export async function readZkDigest(dir: string): Promise<string> {
  return parse(join(dir, ZK_DIGEST_FILE), zkDigestSchema, (text) => text.trim());
}

/** The key masters grant chunk capability tokens with and chunkservers check them with. */
export async function readChunkTokenKey(dir: string): Promise<Buffer> {
  return Buffer.from(await parse(join(dir, CHUNK_TOKEN_KEY_FILE), chunkTokenKeySchema, (text) => text.trim()), 'hex');
}

function newKeyFile(role: Role): KeyFile {
  const curve = curveKeyPair();
  const sign = generateKeyPairSync('ed25519');
  return {
    role,
    curve: { publicKey: curve.publicKey, secretKey: curve.secretKey },
    sign: {
      publicKey: sign.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      secretKey: sign.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
    },
  };
}

async function writeSecret(path: string, text: string): Promise<void> {
  // 'wx': a key is never overwritten; the mode is set at creation, so no moment exists when others may read it.
  await writeFile(path, text, { mode: 0o600, flag: 'wx' });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Reads a file of the keys directory: it must exist, be private to its owner, and hold what `schema` says. */
async function parse<T>(path: string, schema: z.ZodType<T>, decode: (text: string) => unknown): Promise<T> {
  let text: string;
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) {
      throw new OfsError('EACCES', `${path} may be read by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof OfsError) throw err;
    throw new OfsError('ENOENT', `cannot read ${path}: ${(err as Error).message} (make a keys directory with: ofs keys init --dir DIR)`);
  }
  let decoded: unknown;
  try {
    decoded = decode(text);
  } catch {
    throw new OfsError('EINVAL', `${path} is not valid JSON`);
  }
  const parsed = schema.safeParse(decoded);
  // The message names the fields that are wrong, never their values: they may be secret.
  if (!parsed.success) throw new OfsError('EINVAL', `${path} is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
