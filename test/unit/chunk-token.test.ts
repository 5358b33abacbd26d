import { randomBytes } from 'node:crypto';
import test from 'ava';
import {
  CHUNK_TOKEN_LIFETIME_MS,
  ChunkTokenIssuer,
  ChunkTokenVerifier,
  chunkTokenRefusal,
  chunkTokenStale,
  mintChunkToken,
  type ChunkGrant,
  type ChunkToken,
} from '../../src/security/chunk-token.js';
import { protocol } from '../../src/transport/protocol.js';

const key = randomBytes(32);
const NOW = 1_700_000_000_000;
const grant: ChunkGrant = { chunkId: '00000000000000a1', version: 7, access: 'write', client: 'client-1', expiresAt: NOW + 60_000 };
const wanted = { chunkId: grant.chunkId, version: grant.version, access: grant.access, client: grant.client };

test('a token minted with the key allows exactly its grant until it expires', (t) => {
  const token = mintChunkToken(key, grant);
  t.is(chunkTokenRefusal(key, token, wanted, NOW), undefined);
  t.is(chunkTokenRefusal(key, token, wanted, grant.expiresAt - 1), undefined);
  t.regex(chunkTokenRefusal(key, token, wanted, grant.expiresAt)!, /expired at 2023-11-14T22:14:20\.000Z, 0 ms ago/);
  t.regex(chunkTokenRefusal(key, token, wanted, grant.expiresAt + 5000)!, /expired at .*, 5000 ms ago: ask the master again/);
});

test('a token tampered in any field, or MACed with another key, is refused as forged', (t) => {
  const token = mintChunkToken(key, grant);
  const tampered: [string, ChunkToken][] = [
    ['chunk id', { ...token, chunkId: '00000000000000a2' }],
    ['version', { ...token, version: 8 }],
    ['access', { ...token, access: 'read' }],
    ['client', { ...token, client: 'client-2' }],
    ['expiry', { ...token, expiresAt: token.expiresAt + 1 }],
    ['mac', { ...token, mac: `${token.mac.slice(0, -2)}${token.mac.endsWith('AA') ? 'AB' : 'AA'}` }],
    ['short mac', { ...token, mac: token.mac.slice(0, 10) }],
    ['another key', mintChunkToken(randomBytes(32), grant)],
  ];
  for (const [what, forged] of tampered) {
    // Asked for what the tampered token claims: only the MAC can give it away.
    const claim = { chunkId: forged.chunkId, version: forged.version, access: forged.access, client: forged.client };
    t.regex(chunkTokenRefusal(key, forged, claim, NOW) ?? 'allowed', /forged or damaged: the MAC does not match/, what);
  }
});

test('a genuine token asked for something else is refused naming the difference', (t) => {
  const token = mintChunkToken(key, grant);
  t.regex(chunkTokenRefusal(key, undefined, wanted, NOW)!, /carries no capability token/);
  t.regex(chunkTokenRefusal(key, token, { ...wanted, chunkId: '00000000000000b0' }, NOW)!, /is for chunk 00000000000000a1, not chunk 00000000000000b0/);
  t.regex(chunkTokenRefusal(key, token, { ...wanted, version: 6 }, NOW)!, /is for version 7 of chunk 00000000000000a1, not version 6/);
  t.regex(chunkTokenRefusal(key, mintChunkToken(key, { ...grant, access: 'read' }), wanted, NOW)!, /allows read, not write/);
  t.regex(chunkTokenRefusal(key, token, { ...wanted, client: 'client-2' }, NOW)!, /was granted to client-1, not client-2/);
});

test('the issuer grants for its lifetime from its clock; the verifier checks with its own; the wire schema takes a token as minted', (t) => {
  let now = NOW;
  const issuer = new ChunkTokenIssuer(key, () => now);
  const verifier = new ChunkTokenVerifier(key, () => now);
  const token = issuer.issue(grant.chunkId, grant.version, 'read', 'client-1');
  t.is(token.expiresAt, NOW + CHUNK_TOKEN_LIFETIME_MS);
  t.is(verifier.refusal(token, { ...wanted, access: 'read' }), undefined);
  t.false(chunkTokenStale(token, now));
  now += CHUNK_TOKEN_LIFETIME_MS - 1000;
  t.true(chunkTokenStale(token, now), 'a client renews a token about to expire');
  t.false(chunkTokenStale(undefined, now), 'no token (a cluster without security) is never stale');
  now += 1000;
  t.regex(verifier.refusal(token, { ...wanted, access: 'read' })!, /expired/);
  // Neither serialises its key (what a logger would print).
  t.false(JSON.stringify({ issuer, verifier }).includes(key.toString('hex')));
  const read = protocol['chunk.read'].request.parse({ chunkId: grant.chunkId, version: 7, offset: 0, length: 1, token });
  t.deepEqual(read.token, token);
});
