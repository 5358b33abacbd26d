import { ChunkTokenIssuer, ChunkTokenVerifier } from './chunk-token.js';
import { readChunkTokenKey, readZkDigest } from './keys.js';
import type { Role } from './roles.js';
import { WireIdentity } from './wire-identity.js';

/**
 * What a master or chunkserver proves itself with: its role's keys on the
 * wire, the digest in ZooKeeper; and the key of chunk capability tokens,
 * with which masters grant them and chunkservers check them
 * (chunk-token.ts), held inside those two objects. Clients never hold it:
 * a token is worth something only because they cannot make one.
 */
export interface MemberCredentials {
  identity: WireIdentity;
  zkDigest: string;
  chunkTokens: { issuer: ChunkTokenIssuer; verifier: ChunkTokenVerifier };
}

export async function loadMemberCredentials(dir: string, role: Extract<Role, 'master' | 'chunkserver'>): Promise<MemberCredentials> {
  const [identity, zkDigest, chunkTokenKey] = await Promise.all([WireIdentity.load(dir, role), readZkDigest(dir), readChunkTokenKey(dir)]);
  return { identity, zkDigest, chunkTokens: { issuer: new ChunkTokenIssuer(chunkTokenKey), verifier: new ChunkTokenVerifier(chunkTokenKey) } };
}
