import ZooKeeper from 'zookeeper';
import { OfsError } from '../core/errors.js';
import { ExponentialBackoff, sleep } from '../util/backoff.js';
import { decodeMemberInfo, encodeMemberInfo, readMembers, sameMembers, validateMemberInfo, type MemberInfo } from './members.js';
import { ensurePaths, MASTERS_PATH } from './paths.js';
import { withReconnect, type ZkSession } from './session.js';
import { watchChildren, type Watch, type WatchChildrenOptions } from './watch.js';
import { isConnectionError, isZkError, toOfsZkError, ZK, ZK_EVENT } from './zk-errors.js';

/** Prefix of the candidates' znodes; ZooKeeper appends a 10-digit sequence number. */
const CANDIDATE_PREFIX = 'm-';
const CANDIDATE = /^m-(\d{10})$/;

/** Why an election ended for this candidate without it resigning. */
export type ElectionLoss = 'session-ended' | 'znode-deleted';

type ElectionState = 'candidate' | 'active' | 'resigned' | 'lost';

/**
 * One master's place in the election (ZooKeeper's leader recipe): an
 * ephemeral sequential znode under /ofs/masters; the lowest sequence is the
 * active master. A candidate watches only its predecessor, so a master's
 * death wakes one process, not all of them; when the predecessor goes it
 * lists again, since the one before may have gone too.
 *
 * Once active, a candidate stays active until it resigns or loses its znode
 * (session expired, or deleted by hand). While the session is merely
 * disconnected it is still active as far as ZooKeeper knows, and it goes on
 * serving: a successor elected meanwhile holds a higher epoch, which the
 * chunkservers and the standby use to refuse this one's orders.
 */
export class MasterElection {
  private state: ElectionState = 'candidate';
  private generation = 0;
  private backoff = ExponentialBackoff.start({ initialMs: 200, maxMs: 5000, jitter: 0.5 });
  private readonly electedListeners = new Set<() => void | Promise<void>>();
  private readonly lostListeners = new Set<(reason: ElectionLoss) => void | Promise<void>>();
  private readonly offEnded: () => void;
  /** The candidate's sequence number: the order in which masters joined. */
  readonly sequence: number;

  private constructor(
    readonly session: ZkSession,
    readonly info: MemberInfo,
    /** Full path of this candidate's znode, `/ofs/masters/m-NNNNNNNNNN`. */
    readonly znode: string,
  ) {
    this.sequence = candidateSequence(znode.slice(MASTERS_PATH.length + 1));
    this.offEnded = session.onEnded(() => this.lose('session-ended'));
  }

  /**
   * Enters the election. When this resolves, `isActive()` already tells
   * whether this candidate is the active master.
   */
  static async join(session: ZkSession, info: MemberInfo): Promise<MasterElection> {
    validateMemberInfo(info, 'master');
    await ensurePaths(session);
    const znode = await createCandidate(session, encodeMemberInfo(info));
    const election = new MasterElection(session, info, znode);
    await election.watchOwnZnode();
    await election.check();
    return election;
  }

  /** Elected, not resigned, and the session not lost. */
  isActive(): boolean {
    return this.state === 'active' && this.session.isOpen;
  }

  /**
   * Calls `listener` once, when this candidate becomes the active master (on
   * a microtask at once if it already is). Returns an unsubscribe function.
   */
  onElected(listener: () => void | Promise<void>): () => void {
    if (this.state === 'active') {
      queueMicrotask(() => void listener());
      return () => {};
    }
    this.electedListeners.add(listener);
    return () => void this.electedListeners.delete(listener);
  }

  /**
   * Calls `listener` once if this candidate drops out without resigning: its
   * session ended or its znode was deleted. An active master must stop
   * acting as one; another may be active already.
   */
  onLost(listener: (reason: ElectionLoss) => void | Promise<void>): () => void {
    this.lostListeners.add(listener);
    return () => void this.lostListeners.delete(listener);
  }

  /** Leaves the election: deletes the znode so that the next candidate takes over now. */
  async resign(): Promise<void> {
    if (this.state === 'resigned' || this.state === 'lost') return;
    this.state = 'resigned';
    this.finish();
    if (!this.session.isOpen) return;
    try {
      await withReconnect(this.session, () => this.session.client.delete_(this.znode, -1));
    } catch (err) {
      if (!isZkError(err, ZK.NONODE)) throw toOfsZkError(err, `resigning ${this.znode}`);
    }
  }

  private get done(): boolean {
    return this.state === 'resigned' || this.state === 'lost';
  }

  /** Lists the candidates and either takes office or watches the predecessor. */
  private async check(): Promise<void> {
    if (this.done || this.state === 'active') return;
    const mine = ++this.generation;
    let candidates: string[];
    try {
      candidates = sortCandidates(await withReconnect(this.session, () => this.session.client.get_children(MASTERS_PATH, false)));
    } catch (err) {
      return this.retryLater(mine, err);
    }
    if (this.done || mine !== this.generation) return;
    const name = this.znode.slice(MASTERS_PATH.length + 1);
    const index = candidates.indexOf(name);
    if (index < 0) return this.lose('znode-deleted');
    if (index === 0) return this.takeOffice();

    const predecessor = `${MASTERS_PATH}/${candidates[index - 1]}`;
    try {
      await this.session.client.w_exists(predecessor, (type: number) => {
        if (type === ZK_EVENT.SESSION) return; // connection state only; the watch stays set
        if (mine === this.generation) void this.check();
      });
      this.backoff = ExponentialBackoff.start(this.backoff.options);
    } catch (err) {
      // Gone between the listing and the watch: look again.
      if (isZkError(err, ZK.NONODE)) return this.check();
      return this.retryLater(mine, err);
    }
  }

  private async retryLater(mine: number, err: unknown): Promise<void> {
    if (this.done || !this.session.isOpen || mine !== this.generation) return;
    if (isConnectionError(err)) {
      await this.session.whenConnected().catch(() => {});
    } else {
      await sleep(this.backoff.delayMs());
      this.backoff = this.backoff.next();
    }
    if (mine === this.generation) await this.check();
  }

  /** Someone deleting our znode by hand would otherwise leave two active masters. */
  private async watchOwnZnode(): Promise<void> {
    try {
      await withReconnect(this.session, () =>
        this.session.client.w_exists(this.znode, (type: number) => {
          if (type === ZK_EVENT.DELETED) this.lose('znode-deleted');
          else if (type !== ZK_EVENT.SESSION && !this.done) void this.watchOwnZnode();
        }),
      );
    } catch (err) {
      if (isZkError(err, ZK.NONODE)) this.lose('znode-deleted');
      else if (!this.done && this.session.isOpen) throw toOfsZkError(err, `watching ${this.znode}`);
    }
  }

  private takeOffice(): void {
    if (this.state !== 'candidate') return;
    this.state = 'active';
    for (const listener of [...this.electedListeners]) queueMicrotask(() => void listener());
    this.electedListeners.clear();
  }

  private lose(reason: ElectionLoss): void {
    if (this.done) return;
    this.state = 'lost';
    this.finish();
    for (const listener of [...this.lostListeners]) queueMicrotask(() => void listener(reason));
    this.lostListeners.clear();
  }

  private finish(): void {
    this.generation++;
    this.offEnded();
    this.electedListeners.clear();
  }
}

/**
 * Creates the candidate znode. A create whose answer was lost with the
 * connection may still have happened: then our session owns a candidate
 * already, and a second one would sit behind it forever. So after a dropped
 * connection, look for a candidate we own before creating again.
 */
async function createCandidate(session: ZkSession, data: string): Promise<string> {
  const flags = ZooKeeper.constants.ZOO_EPHEMERAL_SEQUENTIAL;
  for (;;) {
    session.assertUsable();
    try {
      const path = await session.client.create(`${MASTERS_PATH}/${CANDIDATE_PREFIX}`, data, flags);
      await session.protect(path);
      return path;
    } catch (err) {
      session.assertUsable();
      if (!isConnectionError(err)) throw toOfsZkError(err, `joining the master election under ${MASTERS_PATH}`);
    }
    await session.whenConnected();
    const owned = await findOwnedCandidate(session);
    if (owned) return owned;
  }
}

async function findOwnedCandidate(session: ZkSession): Promise<string | undefined> {
  const candidates = sortCandidates(await withReconnect(session, () => session.client.get_children(MASTERS_PATH, false)));
  for (const name of candidates) {
    const path = `${MASTERS_PATH}/${name}`;
    try {
      const stat = await withReconnect(session, () => session.client.exists(path, false));
      if (stat.ephemeralOwner === session.id) return path;
    } catch (err) {
      if (!isZkError(err, ZK.NONODE)) throw toOfsZkError(err, `reading ${path}`);
    }
  }
  return undefined;
}

function candidateSequence(name: string): number {
  const match = CANDIDATE.exec(name);
  if (!match) throw new OfsError('EINTERNAL', `invariant broken: master candidate znode "${name}" is not m-<10 digits>`);
  return Number(match[1]);
}

/** The candidates' znode names, lowest sequence (the active master) first; foreign children are ignored. */
export function sortCandidates(children: readonly string[]): string[] {
  return children.filter((name) => CANDIDATE.test(name)).sort((a, b) => candidateSequence(a) - candidateSequence(b));
}

/**
 * The active master's info: the lowest candidate's. Undefined when no master
 * is running. Gives up with EUNAVAILABLE at `deadline` (epoch ms), if given.
 */
export async function findActiveMaster(session: ZkSession, deadline?: number): Promise<MemberInfo | undefined> {
  const bound = deadline === undefined ? undefined : { deadline, doing: `finding the active master under ${MASTERS_PATH}` };
  try {
    for (;;) {
      const candidates = sortCandidates(await withReconnect(session, () => session.client.get_children(MASTERS_PATH, false), bound));
      if (candidates.length === 0) return undefined;
      const lowest = `${MASTERS_PATH}/${candidates[0]}`;
      try {
        const [, data] = await withReconnect(session, () => session.client.get(lowest, false), bound);
        const info = decodeMemberInfo(data);
        if (!info) throw new OfsError('EBADMSG', `the active master's znode ${lowest} does not hold a master's info: ${String(data)}`);
        return info;
      } catch (err) {
        // It died between the two reads: its successor is the active one now.
        if (!isZkError(err, ZK.NONODE)) throw err;
      }
    }
  } catch (err) {
    if (isZkError(err, ZK.NONODE)) return undefined; // no /ofs/masters: no master ever ran
    throw toOfsZkError(err, `finding the active master under ${MASTERS_PATH}`);
  }
}

/** Every master in the election, in order: the first is the active one, the others stand by. */
export async function listMasters(session: ZkSession): Promise<MemberInfo[]> {
  try {
    const candidates = sortCandidates(await withReconnect(session, () => session.client.get_children(MASTERS_PATH, false)));
    return await readMembers(session, MASTERS_PATH, candidates);
  } catch (err) {
    if (isZkError(err, ZK.NONODE)) return [];
    throw toOfsZkError(err, `listing ${MASTERS_PATH}`);
  }
}

/**
 * Calls `onChange` with the masters in election order (first = active) now
 * and after every change, until stopped or the session ends.
 */
export function watchMasters(
  session: ZkSession,
  onChange: (masters: MemberInfo[]) => void,
  options: WatchChildrenOptions = {},
): Watch {
  let last: MemberInfo[] | undefined;
  return watchChildren(
    session,
    MASTERS_PATH,
    async (children) => {
      const masters = await readMembers(session, MASTERS_PATH, sortCandidates(children));
      if (last !== undefined && sameMembers(last, masters)) return;
      last = masters;
      onChange(masters);
    },
    options,
  );
}
