import { chunkIdOfReplicaActor } from '../../core/chunk-id.js';
import { OfsError } from '../../core/errors.js';
import { BEARER, type Caller } from '../../core/permissions.js';
import type { ChunkAccess, ChunkToken } from '../../security/chunk-token.js';
import type { ChunkInfo } from '../../storage/chunk-store.js';
import { MAX_DATA_FRAME, type DataSocket } from '../../transport/protocol.js';
import { inlineBytes, singleFrame } from '../../transport/frames.js';
import type { HandlerMap } from '../../transport/rpc-server.js';
import { INJECTED_CRASH, requireFaultInjection } from '../supervision.js';
import { COPY_PIECE_BYTES, type Mutation, type OrderedMutation } from './chunk-replica-actor.js';
import type { ChunkserverProcess } from './chunkserver-process.js';
import type { HeldLease } from './held-leases.js';
import type { MasterChannel } from './master-channel.js';

/** Re-replication copies this server takes part in at once as a target: client traffic goes on meanwhile. */
const MAX_CONCURRENT_COPIES = 2;

/**
 * The chunkserver's RPC handlers: the data path (push, commit, apply, read),
 * the master's orders (set a version and lease, revoke, copy, report), each
 * order fenced by the master's epoch. Every request that moves a client's
 * bytes (push, commit, read) must carry a capability token allowing it,
 * checked before anything else: the data socket has no other guard.
 */
export function chunkHandlers(process: ChunkserverProcess, master: MasterChannel): HandlerMap {
  const { store, replicas, leases, buffers, fence, rpc, tokens } = process;
  let copiesRunning = 0;
  /**
   * Refuses a request whose token does not allow it; without a token key (--insecure) nothing is checked.
   * The token must be the verified caller's, unless the caller proves no one (the data socket: a bearer's
   * token) or is a chunkserver (a push down the chain, a copy: the token was checked, or granted, for it).
   */
  const authorise = (type: string, token: ChunkToken | undefined, chunkId: string, version: number, access: ChunkAccess, caller: Caller) => {
    const client = caller === BEARER || caller.user === 'chunkserver' ? undefined : caller.user;
    const refusal = tokens?.refusal(token, { chunkId, version, access, client });
    if (refusal) throw new OfsError('EACCES', `${type} of chunk ${chunkId} refused by ${process.id}: ${refusal}`);
  };
  return {
    'chunk.push': async (body, data, _envelope, caller) => {
      authorise('chunk.push', body.token, body.chunkId, body.version, 'write', caller);
      const bytes = singleFrame(data, 'chunk.push');
      buffers.put(body.chunkId, body.bufferId, bytes, Date.now());
      // Forward down the chain while this hop is done: the client waits for the whole chain. Each hop checks
      // the same token.
      await forwardTo(body.chain, (next, chain) => rpc.call(next.address, 'chunk.push', { ...body, chain }, { data: [bytes], curve: next.curve }));
      return { body: {} };
    },
    'chunk.setVersion': async (body, data, envelope) => {
      const sentAt = Date.now();
      const put = body.put === undefined ? undefined : inlineBytes(data, body.put, 'chunk.setVersion');
      await fence.require(envelope.epoch, 'chunk.setVersion');
      const info = await replicas.ask<ChunkInfo>(body.chunkId, (sender) => ({ kind: 'set-version', chunkId: body.chunkId, version: body.version, fresh: body.fresh === true, put, sender }));
      if (body.lease) leases.grant(body.chunkId, body.version, body.lease, sentAt);
      else leases.revoke(body.chunkId);
      return { body: { version: info.version, length: info.length } };
    },
    'chunk.revokeLease': async (body, _data, envelope) => {
      if (await fence.admits(envelope.epoch, 'chunk.revokeLease')) leases.revoke(body.chunkId);
      return { body: {} };
    },
    'chunk.commit': async (body, frames, envelope, caller) => {
      authorise('chunk.commit', body.token, body.chunkId, body.version, 'write', caller);
      const data = body.bufferId ? buffers.get(body.chunkId, body.bufferId, body.length) : inlineBytes(frames, body.length, 'chunk.commit');
      const forward = (ordered: OrderedMutation, secondaries: HeldLease['secondaries']) =>
        Promise.all(
          secondaries.map((secondary) =>
            rpc
              .call(
                secondary.address,
                'chunk.apply',
                {
                  chunkId: body.chunkId,
                  version: body.version,
                  serial: ordered.serial,
                  padded: ordered.padded,
                  bufferId: ordered.padded ? undefined : body.bufferId,
                  offset: ordered.offset,
                  length: ordered.length,
                },
                // Bytes that came inline go on inline; padding sends none.
                { data: ordered.padded || body.bufferId ? [] : [data] },
              )
              .catch((err: OfsError) => {
                throw new OfsError(err.code, `secondary ${secondary.id} (${secondary.address}): ${err.message}`);
              }),
          ),
        );
      const { ordered, durable, forwarded } = await replicas.ask<{ ordered: OrderedMutation; durable: Promise<unknown>; forwarded: Promise<unknown> }>(
        body.chunkId,
        (sender) => ({ kind: 'commit', chunkId: body.chunkId, version: body.version, mode: body.mode, offset: body.offset, data, forward, sender }),
      );
      // Success only when every replica applied it (GFS 3.1 step 7); else the client retries.
      await Promise.all([durable, forwarded]);
      if (body.bufferId) buffers.release(body.chunkId, body.bufferId);
      if (body.mode === 'append') leases.appended(body.chunkId, body.version, ordered.offset + ordered.length);
      return { body: { offset: ordered.offset, padded: ordered.padded } };
    },
    'chunk.apply': async (body, frames) => {
      const mutation: Mutation = body.padded
        ? { pad: true, offset: body.offset, length: body.length }
        : { data: body.bufferId ? buffers.get(body.chunkId, body.bufferId, body.length) : inlineBytes(frames, body.length, 'chunk.apply'), offset: body.offset };
      const { durable } = await replicas.ask<{ durable: Promise<unknown> }>(body.chunkId, (sender) => ({
        kind: 'apply',
        chunkId: body.chunkId,
        version: body.version,
        serial: body.serial,
        mutation,
        sender,
      }));
      await durable;
      if (body.bufferId) buffers.release(body.chunkId, body.bufferId);
      return { body: {} };
    },
    'chunk.copyFrom': async (body, _data, envelope) => {
      await fence.require(envelope.epoch, 'chunk.copyFrom');
      if (copiesRunning >= MAX_CONCURRENT_COPIES) {
        throw new OfsError('EUNAVAILABLE', `already copying ${copiesRunning} chunks; try another chunkserver or later`);
      }
      copiesRunning++;
      try {
        const fetch = async (offset: number) =>
          (await rpc.call(body.source, 'chunk.read', { chunkId: body.chunkId, version: body.version, offset, length: COPY_PIECE_BYTES, token: body.token })).data[0] ??
          Buffer.alloc(0);
        const info = await replicas.ask<ChunkInfo>(body.chunkId, (sender) => ({ kind: 'copy', chunkId: body.chunkId, version: body.version, fetch, sender }));
        return { body: { length: info.length } };
      } finally {
        copiesRunning--;
      }
    },
    'admin.crashActor': async ({ actor }) => {
      const chunkId = chunkIdOfReplicaActor(actor);
      requireFaultInjection(actor, chunkId !== undefined && store.get(chunkId) !== undefined);
      replicas.send({ kind: INJECTED_CRASH, chunkId: chunkId! });
      return { body: { crashed: actor } };
    },
    'chunkserver.report': async ({ from }, _data, envelope) => {
      await fence.require(envelope.epoch, 'chunkserver.report');
      return { body: { ...(await master.load()), ...master.reportPart(envelope.epoch, from) } };
    },
    'chunk.read': async (body, _data, envelope, caller) => {
      authorise('chunk.read', body.token, body.chunkId, body.version, 'read', caller);
      if (body.length > MAX_DATA_FRAME) {
        throw new OfsError('EINVAL', `chunk.read of ${body.length} bytes exceeds the ${MAX_DATA_FRAME}-byte limit per request`);
      }
      const bytes = await replicas.ask<Buffer>(body.chunkId, (sender) => ({
        kind: 'read',
        chunkId: body.chunkId,
        version: body.version,
        offset: body.offset,
        length: body.length,
        sender,
      })).catch((err: OfsError) => {
        if (err.code === 'ECORRUPT') void master.reportCorrupt(body.chunkId, []);
        throw err;
      });
      // The synced length: a reader may take the file to end there, and no crash takes those bytes back.
      // `bytes` is lent memory (read-buffers.ts): it must go out as the frame itself, with no other view of it.
      return { body: { length: bytes.length, chunkLength: store.get(body.chunkId)?.syncedLength ?? 0 }, data: [bytes] };
    },
  };
}

/** Passes a request down the replica chain; the error says which hop failed. */
function forwardTo<T>(chain: DataSocket[], send: (next: DataSocket, rest: DataSocket[]) => Promise<T>): Promise<T | undefined> {
  const [next, ...rest] = chain;
  if (!next) return Promise.resolve(undefined);
  return send(next, rest).catch((err: OfsError) => {
    throw new OfsError(err.code ?? 'EUNAVAILABLE', `replica ${next.address}: ${err.message}`);
  });
}
