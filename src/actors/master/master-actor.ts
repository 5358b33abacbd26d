import { dispatch, spawn, type Ref } from 'nact';
import { ClusterView } from '../../core/cluster-view.js';
import { authorizeWrite, decideCollectGarbage } from '../../core/commands.js';
import type { MasterEvent, UnsequencedEvent } from '../../core/events.js';
import * as plan from '../../core/master-planners.js';
import { clusterStatus, countUnderReplicated } from '../../core/master-queries.js';
import { decideRequest } from '../../core/master-requests.js';
import { remembers } from '../../core/retry-cache.js';
import { ReplicationScan } from '../../core/replication-scan.js';
import { applyTracked, checkpointDue, type ChunkTable, type TrackedNamespace } from '../../core/chunk-table.js';
import type { Namespace } from '../../core/namespace.js';
import type { Caller } from '../../core/permissions.js';
import { namespaceDigest } from '../../core/namespace-snapshot.js';
import { normalizePath } from '../../core/paths.js';
import type { MessageType, ReplyOf } from '../../transport/protocol.js';
import type { Logger } from '../../util/logger.js';
import { failed, ok, type Result } from '../../util/result.js';
import { shuffle } from '../../util/shuffle.js';
import { crashable, resumeOnCrash } from '../supervision.js';
import type { EventSink, FileCreation, MasterMessage, MasterSettings, PreparedLease } from './master-messages.js';

interface MasterState {
  ns: Namespace;
  view: ClusterView;
  sinceCheckpoint: number;
  /** Every chunk's owning file, kept with `ns` event by event. */
  table: ChunkTable;
  /**
   * Resolves once every event applied to `ns` so far is durable (journal and
   * standby append in order, so the newest append's promise covers all).
   */
  durable: Promise<void>;
  /** Which chunks each replication tick looks at: a bounded slice, suspects first. */
  scan: ReplicationScan;
  /** Which chunks a balancing tick looks for a move among: a walk of its own. */
  balanceScan: ReplicationScan;
  /** File path → when a client last asked where its chunks are: re-replication copies those chunks first. */
  readAt: Map<string, number>;
}

/** What a handler decided: the reply (or a promise of it, for work outside the actor) and the events to journal first. */
type Handled<T> = { reply: T | Promise<T>; events?: UnsequencedEvent[] };

/** Chunks each replication or balancing tick looks at (suspects, then as many of a walk over all): a bounded share of the tick, and a million chunks walked in 50 ticks. */
const SCAN_PER_TICK = 20_000;

/** A file located within this long counts as being read, for re-replication's priorities. */
const READ_LATELY_MS = 60_000;

/**
 * The active master: a nact actor whose state is the namespace plus the soft
 * cluster view. Each message is decided by the pure functions of src/core;
 * its events are applied at once (so the next request sees them) and the
 * answer waits until the sink says they are durable. Not awaiting the sink
 * inside the actor is what lets the journal group-commit many requests into
 * one fsync.
 */
export function spawnMasterActor(parent: Ref<unknown>, initial: TrackedNamespace, settings: MasterSettings, sink: EventSink, log: Logger): Ref<MasterMessage> {
  const persist = (state: MasterState, events: UnsequencedEvent[]): MasterState => {
    if (events.length === 0) return state;
    const epoch = settings.epoch();
    const sequenced = events.map((e, i) => ({ ...e, seq: state.ns.seq + 1 + i, epoch }) as MasterEvent);
    const { ns, changes } = applyTracked(state.ns, state.table, sequenced);
    if (changes.detached.length > 0) settings.onChunksDetached(changes.detached);
    // Chunks no file refers to any more are deleted through heartbeats.
    for (const chunkId of changes.orphaned) state.view.scheduleDelete(chunkId);
    const durable = sink.append(sequenced).catch((err: unknown) => {
      // The in-memory state is now ahead of the log: continuing would serve
      // metadata that a restart forgets. Crash loudly; the supervisor restarts us.
      log.fatal({ err }, 'journal append failed; exiting so that state and journal cannot diverge');
      process.exit(70);
    });
    let sinceCheckpoint = state.sinceCheckpoint + sequenced.length;
    if (checkpointDue(sinceCheckpoint, settings.checkpointEvery, state.table)) {
      sinceCheckpoint = 0;
      void sink.checkpoint(ns).catch((err) => log.error({ err }, 'checkpoint failed'));
    }
    return { ...state, ns, sinceCheckpoint, durable };
  };

  const owners = (state: MasterState) => state.table.chunks;

  /** A chunkserver is gone: every chunk it held is one replica short, so the next replication ticks look at those first. */
  const dropServer = (state: MasterState, id: string): void => {
    state.scan.suspect(state.view.chunksOf(id));
    state.view.remove(id);
  };

  /**
   * Runs a handler, persists its events and answers once they are durable,
   * and so is everything the answer may show: a read waits for the events
   * before it too (etcd's ReadIndex, without the round: the sink is ours),
   * so no reply reveals state a crash of this master could lose.
   */
  const answer = <T>(state: MasterState, sender: Ref<Result<T>>, run: () => Handled<T>): MasterState => {
    try {
      const { reply, events = [] } = run();
      const next = persist(state, events);
      Promise.all([reply, next.durable]).then(([value]) => dispatch(sender, ok(value)), (err: unknown) => dispatch(sender, failed(err)));
      return next;
    } catch (err) {
      return refuse(state, sender, err);
    }
  };

  /**
   * Answers with the error a handler threw, once what it was decided on is
   * durable: an EEXIST may come from another client's create still being
   * journaled, and must not outlive a crash that loses it. The state stays as it was.
   */
  const refuse = (state: MasterState, sender: Ref<Result<never>>, err: unknown): MasterState => {
    const outcome = failed(err);
    if (outcome.code === 'EINTERNAL') log.error({ err }, 'request failed');
    void state.durable.then(() => dispatch(sender, outcome));
    return state;
  };

  /** A request: decided by the core, except those that need this process (who it is, its journal). */
  const handle = (state: MasterState, type: MessageType, body: any, now: number, caller: Caller): Handled<unknown> => {
    const { ns, view } = state;
    switch (type) {
      case 'master.checkpoint':
        return { reply: sink.checkpoint(ns) };
      case 'master.status': {
        const master = { id: settings.id, address: settings.address, epoch: settings.epoch(), seq: ns.seq, digest: body.digest ? namespaceDigest(ns) : undefined };
        const underReplicated = body.underReplicated ? countUnderReplicated(owners(state), view, settings, now) : undefined;
        return { reply: { master, standby: settings.standbys(ns.seq), ...clusterStatus(state.table, view, settings, now), underReplicated } };
      }
    }
    const decided = decideRequest({ ns, view, owners: () => owners(state) }, settings, type, body, now, caller);
    if (type === 'master.reportCorrupt') state.scan.suspect([body.chunkId]);
    if (type === 'master.reportCorrupt') log.warn({ chunkserver: body.id, chunkId: body.chunkId, blocks: body.blocks, reply: decided.reply }, 'corrupt replica reported');
    if (type === 'master.locate') {
      const located = decided.reply as ReplyOf<'master.locate'>;
      if (located.type === 'file') state.readAt.set(located.path, now);
      for (const chunk of located.chunks) shuffle(chunk.replicas); // spreads reads over the replicas
    }
    return decided;
  };

  /**
   * Makes the file first if `create` says so, then places the chunk a lease
   * (or a put) needs. A create stays made if the placement then fails, as by
   * `master.create` alone.
   */
  const prepareLease = (
    state: MasterState,
    msg: { path: string; index: number | 'last'; caller: Caller; sender: Ref<Result<PreparedLease>> },
    create: FileCreation | undefined,
    now: number,
  ): MasterState => {
    let created = state;
    try {
      if (create) created = persist(state, handle(state, 'master.create', { ...create, path: msg.path }, now, msg.caller).events ?? []);
      // A file made by this very request is its caller's to write, whatever mode it was given (HDFS, too).
      else authorizeWrite(state.ns, normalizePath(msg.path), msg.caller);
    } catch (err) {
      return refuse(state, msg.sender, err);
    }
    try {
      const { candidate, events } = plan.prepareLease(created.ns, created.view, settings, normalizePath(msg.path), msg.index, now, settings.epoch());
      const next = persist(created, events);
      // Not once durable, as other answers: the lease manager's calls to the replicas overlap the
      // journal round, and it tells no client of the lease before `durable`. A crash meanwhile
      // leaves them chunks no file owns, which they are told to delete; the next master, of a
      // higher epoch, never hands out their ids again (chunkNumbersFor).
      dispatch(msg.sender, ok({ candidate, durable: next.durable }));
      return next;
    } catch (err) {
      // The create stays made (`refuse` answers once it is durable).
      return refuse(created, msg.sender, err);
    }
  };

  const receive = (state: MasterState, msg: MasterMessage): MasterState => {
    const now = Date.now();
    switch (msg.kind) {
      case 'request':
        return answer(state, msg.sender, () => handle(state, msg.type, msg.body, now, msg.caller));
      case 'attach-standby':
        settings.attachStandby(msg.standby, state.ns.seq, msg.from === undefined ? undefined : { from: msg.from, durable: state.durable });
        dispatch(msg.sender, state.ns);
        return state;
      case 'prepare-lease':
        return prepareLease(state, msg, msg.create, now);
      case 'prepare-put':
        // A retry of a put that took effect: doing it again would replace what was written since.
        if (msg.requestId && remembers(state.ns.recentRequests, msg.requestId)) {
          dispatch(msg.sender, ok({ repeated: true as const, durable: state.durable }));
          return state;
        }
        return prepareLease(state, { ...msg, index: 0 }, { overwrite: true, mode: msg.mode }, now);
      case 'lease-granted': {
        // A replica that missed the new version is stale: its chunk is one short.
        if (msg.lease.failed.length > 0) state.scan.suspect([msg.lease.chunkId]);
        const { lease, put } = msg;
        return answer(state, msg.sender, () => ({
          reply: {},
          events: put ? plan.recordPut(state.ns, state.view, owners(state), lease, put, settings.chunkSize, now) : plan.recordGrant(state.view, owners(state), lease),
        }));
      }
      case 'chunk-lengths':
        return answer(state, msg.sender, () => ({ reply: {}, events: plan.sizesFromLengths(state.ns, msg.lengths, settings.chunkSize, now) }));
      case 'replication-needs':
        for (const [path, at] of state.readAt) if (now - at > READ_LATELY_MS) state.readAt.delete(path);
        return answer(state, msg.sender, () => ({ reply: plan.replicationNeeds(state.scan.next(owners(state)), state.view, settings, (p) => state.readAt.has(p), now) }));
      case 'balance-move':
        return answer(state, msg.sender, () => ({ reply: plan.balanceMove(state.balanceScan.next(owners(state)), state.view, settings, msg.threshold, now) }));
      case 'drop-replica':
        return answer(state, msg.sender, () => ({ reply: { dropped: plan.dropReplica(owners(state), state.view, settings, msg.chunkId, msg.serverId, now) } }));
      case 'replica-copied':
        return answer(state, msg.sender, () => ({ reply: { accepted: plan.acceptCopy(owners(state), state.view, msg) } }));
      case 'collect-garbage': {
        const events = decideCollectGarbage(state.ns, msg.now, msg.keepMs);
        if (events.length > 0) log.info({ trash: events.map((e) => (e as { path: string }).path) }, 'garbage-collecting deleted files');
        return persist(state, events);
      }
      case 'expire-dead':
        for (const id of state.view.expiring(msg.now)) {
          log.warn({ chunkserver: id }, 'chunkserver missed its heartbeats: dropped');
          dropServer(state, id);
        }
        return state;
      case 'chunkserver-gone':
        if (state.view.servers.has(msg.id)) log.warn({ chunkserver: msg.id }, 'chunkserver left ZooKeeper: dropped');
        dropServer(state, msg.id);
        return state;
    }
  };

  const initialState: MasterState = { ...initial, durable: Promise.resolve(), scan: new ReplicationScan(SCAN_PER_TICK), balanceScan: new ReplicationScan(SCAN_PER_TICK), view: new ClusterView(settings.heartbeatTimeoutMs, settings.replication), sinceCheckpoint: 0, readAt: new Map() };
  // The namespace is the truth: a crash drops the message that caused it and keeps the state.
  return spawn(parent, crashable('master', receive), 'master', { initialState, onCrash: resumeOnCrash(log) });
}
