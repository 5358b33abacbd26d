import { readZkDigest } from './keys.js';
import type { Role } from './roles.js';
import { WireIdentity } from './wire-identity.js';

/** What a master or chunkserver proves itself with: its role's keys on the wire, the digest in ZooKeeper. */
export interface MemberCredentials {
  identity: WireIdentity;
  zkDigest: string;
}

export async function loadMemberCredentials(dir: string, role: Extract<Role, 'master' | 'chunkserver'>): Promise<MemberCredentials> {
  const [identity, zkDigest] = await Promise.all([WireIdentity.load(dir, role), readZkDigest(dir)]);
  return { identity, zkDigest };
}
