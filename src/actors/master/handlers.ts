import { OfsError } from '../../core/errors.js';
import type { BalanceMove, ChunkLength } from '../../core/master-planners.js';
import type { Namespace } from '../../core/namespace.js';
import { protocol, type MessageType, type ReplyOf } from '../../transport/protocol.js';
import type { Envelope } from '../../transport/envelope.js';
import { inlineBytes } from '../../transport/frames.js';
import type { HandlerMap } from '../../transport/rpc-server.js';
import type { Caller } from '../../core/permissions.js';
import { ask, askResult } from '../../util/ask.js';
import { injectCrash, requireFaultInjection } from '../supervision.js';
import { activeActors, type MasterProcess } from './master-process.js';
import type { BalanceProgress, ReplicationProgress } from './replication-manager.js';

/**
 * A standby further behind than this takes a snapshot instead: the events it
 * missed are read into memory to be streamed (100,000 are some tens of MB, and
 * stream in about as long as a snapshot of a million files takes).
 */
const MAX_RESUMED_EVENTS = 100_000;

const MASTER_TYPES = (Object.keys(protocol) as MessageType[]).filter((t) => t.startsWith('master.'));

/**
 * The master's RPC handlers: each request goes to the actor that owns its
 * answer. Namespace requests go to the master actor; leases to the lease
 * manager; balancing to the replication manager; a standby's appends to the
 * standby actor. A master that is not active answers ENOTACTIVE.
 */
export function masterHandlers(process: MasterProcess, replication: number): HandlerMap {
  // The caller is the RPC server's verified one: the master checks permissions for it.
  const askMaster = (type: MessageType, body: unknown, caller: Caller) =>
    askResult(activeActors(process).master)<unknown>((sender) => ({ kind: 'request', type, body, caller, sender }));

  return {
    ...Object.fromEntries(MASTER_TYPES.map((type) => [type, async (body: unknown, _data: Buffer[], _envelope: Envelope, caller: Caller) => ({ body: await askMaster(type, body, caller) })])),
    'master.lease': async (body, _data, _envelope, caller) => {
      const { leases } = activeActors(process);
      const lease = await askResult(leases)<ReplyOf<'master.lease'>>((sender) => ({ kind: 'lease', ...body, caller, sender }));
      return { body: process.grants.lease(lease, caller.user) };
    },
    'master.create': async ({ lease: withLease, path, ...create }, _data, _envelope, caller) => {
      if (!withLease) return { body: (await askMaster('master.create', { path, ...create }, caller)) as ReplyOf<'master.create'> };
      const { leases } = activeActors(process);
      const lease = await askResult(leases)<ReplyOf<'master.lease'>>((sender) => ({ kind: 'lease', path, index: 0, afterFailure: false, create, caller, sender }));
      return { body: { chunkSize: lease.chunkSize, replication, lease: process.grants.lease(lease, caller.user) } };
    },
    'master.put': async ({ path, length, mode, requestId }, data, _envelope, caller) => {
      const bytes = inlineBytes(data, length, 'master.put');
      const { leases } = activeActors(process);
      await askResult(leases)<void>((sender) => ({ kind: 'put', path, data: bytes, mode, requestId, caller, sender }));
      return { body: {} };
    },
    'master.locate': async (body, _data, _envelope, caller) => {
      const located = (await askMaster('master.locate', body, caller)) as ReplyOf<'master.locate'>;
      if (located.chunks.length === 0) return { body: located };
      const chunkIds = located.chunks.map((c) => c.chunkId);
      const primaries = await ask(activeActors(process).leases)<(string | null)[]>((sender) => ({ kind: 'primaries', chunkIds, sender }));
      const withPrimaries = { ...located, chunks: located.chunks.map((c, i) => ({ ...c, primary: primaries[i] ?? null })) };
      return { body: process.grants.located(withPrimaries, caller.user) };
    },
    'master.chunkReport': async (body, _data, _envelope, caller) => {
      process.grants.heard(body);
      return { body: (await askMaster('master.chunkReport', body, caller)) as ReplyOf<'master.chunkReport'> };
    },
    'master.heartbeat': async (body, _data, _envelope, caller) => {
      process.grants.heard(body);
      const beat = (await askMaster('master.heartbeat', body, caller)) as ReplyOf<'master.heartbeat'>;
      if (body.leases.length === 0) return { body: beat };
      const { leases, master } = activeActors(process);
      const { extended, lengths } = await ask(leases)<{ extended: ReplyOf<'master.heartbeat'>['extended']; lengths: ChunkLength[] }>((sender) => ({
        kind: 'extend',
        serverId: body.id,
        leases: body.leases,
        sender,
      }));
      // Journaled before the reply (one heartbeat's sizes at a time per chunkserver), but a failure
      // there must not cost the primary its leases: the next heartbeat reports the lengths again.
      if (lengths.length > 0) {
        await askResult(master)((sender) => ({ kind: 'chunk-lengths', lengths, sender })).catch((err: unknown) =>
          process.log.warn({ err: (err as Error).message, chunkserver: body.id }, 'file sizes from a heartbeat not journaled'),
        );
      }
      return { body: { ...beat, extended } };
    },
    'master.attachStandby': async ({ newest, ...standby }) => {
      const { master } = activeActors(process);
      // Our journal holds the standby's newest event: both histories agree up to it, and only what follows need go.
      if (newest && (await process.store.holds(newest, MAX_RESUMED_EVENTS))) {
        await ask(master)<Namespace>((sender) => ({ kind: 'attach-standby', standby, from: newest.seq, sender }));
        return { body: { seq: newest.seq } };
      }
      const ns = await ask(master)<Namespace>((sender) => ({ kind: 'attach-standby', standby, sender }));
      return { body: { seq: ns.seq, snapshot: process.snapshots.start(standby.id, ns) } };
    },
    'master.snapshotPiece': async ({ snapshot, index }) => {
      activeActors(process);
      return { body: process.snapshots.piece(snapshot, index) };
    },
    'master.balance': async ({ threshold }) => {
      const { master, replication } = activeActors(process);
      const progress = await ask(replication)<BalanceProgress>((sender) => ({ kind: 'balance', threshold, sender }));
      // The spread as of now (a dry run of the planner), not as of the last move.
      const { spread } = await askResult(master)<BalanceMove>((sender) => ({ kind: 'balance-move', threshold, sender })).catch(() => progress);
      return { body: { ...progress, spread } };
    },
    'master.replication': async () => {
      const { replication } = activeActors(process);
      return { body: await ask(replication)<ReplicationProgress>((sender) => ({ kind: 'progress', sender })) };
    },
    'admin.crashActor': async ({ actor: name }) => {
      const actors = {
        master: process.active?.master,
        'lease-manager': process.active?.leases,
        'replication-manager': process.active?.replication,
        standby: process.standbyActor,
      };
      const target = actors[name as keyof typeof actors];
      requireFaultInjection(name, target !== undefined);
      injectCrash(target!);
      return { body: { crashed: name } };
    },
    'standby.append': async (body, _data, envelope) => {
      if (process.mode !== 'standby') {
        throw new OfsError('ESTALE', `master ${process.id} is active at epoch ${process.epoch}: it takes no events from another master`);
      }
      await process.epochs.check(envelope.epoch, 'standby.append');
      if (process.attaching) throw new OfsError('EBUSY', `standby ${process.id} is attaching to the active master: not taking events until its snapshot is installed`);
      const seq = await askResult(process.standbyActor)<number>((sender) => ({ kind: 'append', events: body.events, epoch: envelope.epoch, sender }));
      return { body: { seq } };
    },
  };
}
