import { UNCHECKED } from '../../core/permissions.js';
import { dispatch, type Ref } from 'nact';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TrackedNamespace } from '../../core/chunk-table.js';
import { ask, askResult } from '../../util/ask.js';
import { MasterElection } from '../../zk/election.js';
import { incrementEpoch } from '../../zk/epoch.js';
import { epochAbove } from '../../core/chunk-id.js';
import { readInSync } from '../../zk/in-sync.js';
import { listChunkservers } from '../../zk/registry.js';
import { spawnGarbageCollector } from './garbage-collector.js';
import { spawnLeaseManager } from './lease-manager.js';
import { spawnMasterActor } from './master-actor.js';
import type { MasterProcess } from './master-process.js';
import { spawnReplicationManager } from './replication-manager.js';
import type { StandbyStreams } from './standby-streams.js';
import type { ZkSession } from '../../zk/session.js';

export interface TakeoverSettings {
  chunkSize: number;
  replication: number;
  heartbeatMs: number;
  deadAfterMs: number;
  leaseMs: number;
  gcIntervalMs: number;
  checkpointEvery: number;
}

/** Re-replication throttle: copies per chunkserver (source or target) and in all at once. */
const MAX_COPIES_PER_SERVER = 2;
const MAX_COPIES = 8;
/** How often a master that yielded (not in sync) looks for an in-sync master to come back. */
const YIELD_CHECK_MS = 500;

/**
 * A master's candidacy: it joins the ZooKeeper election and, once elected,
 * takes over. Only a master in the in-sync set may serve (one that fell out
 * of it may lack acknowledged events); it takes a new epoch, takes the
 * standby actor's state, spawns the active actors, and asks every
 * chunkserver what it holds. It serves namespace requests at once; leases
 * wait for those reports (at most --dead-after-ms), and re-replication waits
 * --dead-after-ms longer (safe mode, as in HDFS): replicas not yet reported
 * would look missing and be copied, and versions bumped, for nothing.
 */
export class Candidacy {
  constructor(
    private readonly process: MasterProcess,
    private readonly zk: ZkSession,
    private readonly system: Ref<unknown>,
    private readonly streams: StandbyStreams,
    private readonly settings: TakeoverSettings,
    private readonly onFatal: (reason: string) => void,
  ) {}

  async join(): Promise<void> {
    const { id, address, httpAddress, log } = this.process;
    const election = await MasterElection.join(this.zk, { id, address, http: httpAddress });
    election.onElected(() => this.takeOver(election).catch((err: Error) => this.onFatal(`could not take over as active master: ${err.message}`)));
    if (!election.isActive()) log.info({ address }, 'standing by: another master is active');
  }

  private async takeOver(election: MasterElection): Promise<void> {
    const { process, settings } = this;
    const { id, address, log } = process;
    const { zk } = this;
    const inSync = await readInSync(zk);
    if (inSync && inSync.members.length > 0 && !inSync.members.includes(id)) {
      log.warn({ inSync: inSync.members }, 'elected but not in sync: yielding until an in-sync master is back');
      await election.resign();
      while (!process.masters.some((m) => inSync.members.includes(m.id))) await sleep(YIELD_CHECK_MS);
      await this.join();
      return;
    }
    process.mode = 'taking-over';
    process.epoch = await incrementEpoch(zk);
    const { epoch: seen, ...taken } = await ask(process.standbyActor)<TrackedNamespace & { epoch: number }>((sender) => ({ kind: 'take-over', sender }));
    // ZooKeeper's data rolled back (a restore from a backup) could give an epoch at or below one already used: one the
    // journal's chunk ids came from would hand them out again, and one an active master showed (to this standby, or in
    // the in-sync set) would be fenced off. So the epoch moves past them first, before anything is written under it.
    const floor = Math.max(epochAbove(taken.ns.nextChunkId), seen + 1, (inSync?.epoch ?? 0) + 1);
    if (process.epoch < floor) {
      log.warn({ epoch: process.epoch, floor }, 'ZooKeeper gave an epoch at or below one already used; moving past it');
      process.epoch = await incrementEpoch(zk, floor);
    }
    await this.streams.resetInSync();
    const master = spawnMasterActor(
      this.system,
      taken,
      {
        id,
        address,
        chunkSize: settings.chunkSize,
        replication: settings.replication,
        heartbeatTimeoutMs: settings.deadAfterMs,
        checkpointEvery: settings.checkpointEvery,
        epoch: () => process.epoch,
        standbys: (seq) => this.streams.standbys(seq),
        attachStandby: (standby, seq, resume) => this.streams.attach(standby, seq, resume),
        onChunksDetached: (chunkIds) => {
          if (process.active) dispatch(process.active.leases, { kind: 'revoke', chunkIds });
        },
      },
      this.streams.sink,
      log,
    );
    // Namespace requests are served at once; leases wait for the chunkservers' reports, for at most
    // --dead-after-ms (a chunkserver that has not answered by then counts as dead anyway).
    let reported!: () => void;
    const reports = new Promise<void>((resolve) => (reported = resolve));
    const placementReady = Promise.race([reports, sleep(settings.deadAfterMs, undefined, { ref: false })]).then(() => undefined);
    const leases = spawnLeaseManager(this.system, master, process.rpc, { leaseMs: settings.leaseMs, chunkSize: settings.chunkSize, placementReady, metrics: process.metrics.leases }, log);
    const replication = spawnReplicationManager(
      this.system,
      master,
      leases,
      process.rpc,
      {
        maxCopiesPerServer: MAX_COPIES_PER_SERVER,
        maxCopies: MAX_COPIES,
        chunkSize: settings.chunkSize,
        balanceSettleMs: 2 * settings.heartbeatMs,
        copyToken: (chunkId, version, target) => process.grants.copy(chunkId, version, target),
        metrics: process.metrics.replication,
      },
      log,
    );
    const gc = spawnGarbageCollector(this.system, master, settings.gcIntervalMs);
    process.active = { master, leases, replication, gc };
    process.mode = 'active';
    log.info({ address, epoch: process.epoch, seq: taken.ns.seq }, 'elected: serving as the active master');
    void this.collectChunkReports()
      .catch((err: Error) => log.warn({ err: err.message }, 'could not list the chunkservers to ask for reports; waiting for their heartbeats'))
      .finally(() => {
        reported();
        setTimeout(() => (process.replicationReady = true), settings.deadAfterMs).unref();
      });
  }

  /** Chunk locations are soft state: ask every chunkserver what it holds. */
  private async collectChunkReports(): Promise<void> {
    const { rpc, log } = this.process;
    const master = this.process.active!.master;
    const members = await listChunkservers(this.zk);
    await Promise.all(
      members.map(async (member) => {
        try {
          // In parts where one message would not hold them all; the last part settles the rest.
          for (let from = 0, more = true; more; ) {
            const { body } = await rpc.call(member.address, 'chunkserver.report', { from }, { timeoutMs: 10_000 });
            this.process.grants.heard(body);
            const { more: after, ...report } = body;
            const part = from === 0 && !after ? undefined : { report: `takeover-${this.process.epoch}`, first: from === 0, last: !after };
            await askResult(master)((sender) => ({ kind: 'request', type: 'master.chunkReport', body: { ...report, full: true, ...(part && { part }) }, caller: UNCHECKED, sender }));
            from += body.chunks.length;
            more = after;
          }
        } catch (err) {
          log.warn({ chunkserver: member.id, err: (err as Error).message }, 'no chunk report; waiting for its heartbeat');
        }
      }),
    );
  }
}
