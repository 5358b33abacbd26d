import ZooKeeper from 'zookeeper';
import { OfsError } from '../core/errors.js';
import { decodeMemberInfo, encodeMemberInfo, readMembers, sameMembers, validateMemberInfo, type MemberInfo } from './members.js';
import { CHUNKSERVERS_PATH, ensurePaths } from './paths.js';
import { withReconnect, type ZkSession } from './session.js';
import { waitForDeletion, watchChildren, type Watch, type WatchChildrenOptions } from './watch.js';
import { isConnectionError, isZkError, toOfsZkError, ZK } from './zk-errors.js';

export type { MemberInfo } from './members.js';
export type { Watch } from './watch.js';

/** Extra time, beyond the session timeout, that the server may take to notice a dead session (it checks once a tick). */
const EXPIRY_SLACK_MS = 2000;

export interface RegisterOptions {
  /**
   * How long to wait for a znode of the same id, left by a previous session,
   * to vanish (default: our session timeout + 2 s, the longest a dead session
   * of the same configuration can linger).
   */
  staleWaitMs?: number;
}

export interface ChunkserverRegistration {
  readonly path: string;
  /** Deletes the znode now, rather than when the session ends. */
  unregister(): Promise<void>;
}

export function chunkserverPath(id: string): string {
  return `${CHUNKSERVERS_PATH}/${id}`;
}

/**
 * Announces a live chunkserver: an ephemeral `/ofs/chunkservers/<id>` holding
 * its info, which ZooKeeper deletes when the session ends — so the master
 * learns of a crash within the session timeout, without waiting for missed
 * heartbeats.
 *
 * A chunkserver restarted right after a crash finds its old znode still there
 * until the old session expires: it waits for it to go. If it stays (another
 * live process uses the same id), the registration is refused with EEXIST.
 */
export async function registerChunkserver(
  session: ZkSession,
  info: MemberInfo,
  options: RegisterOptions = {},
): Promise<ChunkserverRegistration> {
  validateMemberInfo(info, 'chunkserver');
  await ensurePaths(session);
  const path = chunkserverPath(info.id);
  const data = encodeMemberInfo(info);
  const deadline = Date.now() + (options.staleWaitMs ?? session.sessionTimeoutMs + EXPIRY_SLACK_MS);
  const registration: ChunkserverRegistration = { path, unregister: () => unregister(session, path) };

  for (;;) {
    session.assertUsable();
    try {
      await session.client.create(path, data, ZooKeeper.constants.ZOO_EPHEMERAL);
      await session.protect(path);
      return registration;
    } catch (err) {
      session.assertUsable();
      if (isConnectionError(err)) {
        // The create may have happened before the connection dropped: the
        // NODEEXISTS that follows then names our own session as the owner.
        await session.whenConnected();
        continue;
      }
      if (!isZkError(err, ZK.NODEEXISTS)) throw toOfsZkError(err, `registering chunkserver ${info.id}`);
    }

    let stat: { ephemeralOwner: string };
    let existing: unknown;
    try {
      [stat, existing] = await withReconnect(session, () => session.client.get(path, false));
    } catch (err) {
      if (isZkError(err, ZK.NONODE)) continue; // gone already: create again
      throw toOfsZkError(err, `reading ${path}`);
    }
    if (stat.ephemeralOwner === session.id) {
      if (String(existing) !== data) await withReconnect(session, () => session.client.set(path, data, -1));
      return registration;
    }
    const holder = decodeMemberInfo(existing);
    const heldBy = `session 0x${stat.ephemeralOwner}${holder ? ` (address ${holder.address})` : ''}`;
    if (stat.ephemeralOwner === '0') {
      throw new OfsError('EEXIST', `chunkserver id "${info.id}": ${path} exists and is not ephemeral; remove it by hand`);
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0 || !(await waitForDeletion(session, path, remaining))) {
      throw new OfsError(
        'EEXIST',
        `chunkserver id "${info.id}" is already registered by another live ZooKeeper ${heldBy}: ` +
          'is a second chunkserver running with the same id (the same data directory)?',
      );
    }
  }
}

async function unregister(session: ZkSession, path: string): Promise<void> {
  if (!session.isOpen) return; // the server deletes it, or already did
  try {
    await withReconnect(session, () => session.client.delete_(path, -1));
  } catch (err) {
    if (!isZkError(err, ZK.NONODE)) throw toOfsZkError(err, `deleting ${path}`);
  }
}

/** The live chunkservers, ordered by id. */
export async function listChunkservers(session: ZkSession): Promise<MemberInfo[]> {
  try {
    const children = await withReconnect(session, () => session.client.get_children(CHUNKSERVERS_PATH, false));
    return await readMembers(session, CHUNKSERVERS_PATH, [...children].sort());
  } catch (err) {
    if (isZkError(err, ZK.NONODE)) return [];
    throw toOfsZkError(err, `listing ${CHUNKSERVERS_PATH}`);
  }
}

/**
 * Calls `onChange` with the live chunkservers (ordered by id) now and after
 * every change in membership, until stopped or the session ends.
 */
export function watchChunkservers(
  session: ZkSession,
  onChange: (members: MemberInfo[]) => void,
  options: WatchChildrenOptions = {},
): Watch {
  let last: MemberInfo[] | undefined;
  return watchChildren(
    session,
    CHUNKSERVERS_PATH,
    async (children) => {
      const members = await readMembers(session, CHUNKSERVERS_PATH, [...children].sort());
      if (last !== undefined && sameMembers(last, members)) return;
      last = members;
      onChange(members);
    },
    options,
  );
}
