import { readChunkTokenKey, readZkDigest } from './keys.js';
import type { Role } from './roles.js';
import { WireIdentity } from './wire-identity.js';

/**
 * What a master or chunkserver proves itself with: its role's keys on the
 * wire, the digest in ZooKeeper; and the key of chunk capability tokens,
 * which masters grant and chunkservers check (chunk-token.ts). Clients never
 * hold the last: a token is worth something only because they cannot make one.
 */
export interface MemberCredentials {
  identity: WireIdentity;
  zkDigest: string;
  chunkTokenKey: Buffer;
}

export async function loadMemberCredentials(dir: string, role: Extract<Role, 'master' | 'chunkserver'>): Promise<MemberCredentials> {
  const [identity, zkDigest, chunkTokenKey] = await Promise.all([WireIdentity.load(dir, role), readZkDigest(dir), readChunkTokenKey(dir)]);
  return { identity, zkDigest, chunkTokenKey };
}
