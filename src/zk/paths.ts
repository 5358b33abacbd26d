import ZooKeeper from 'zookeeper';
import { withReconnect, type ZkSession } from './session.js';
import { isZkError, toOfsZkError, ZK } from './zk-errors.js';

/** Everything OFS keeps in ZooKeeper lives under this znode. */
export const ZK_ROOT = '/ofs';
/** Ephemeral sequential `m-NNNNNNNNNN` per master process; the lowest is the active one. */
export const MASTERS_PATH = `${ZK_ROOT}/masters`;
/** Ephemeral `<id>` per live chunkserver. */
export const CHUNKSERVERS_PATH = `${ZK_ROOT}/chunkservers`;
/** The master epoch, a decimal integer; missing means 0 (no master was ever elected). */
export const EPOCH_PATH = `${ZK_ROOT}/epoch`;

/** The persistent parents, in creation order. */
const PARENTS = [ZK_ROOT, MASTERS_PATH, CHUNKSERVERS_PATH] as const;

/**
 * Creates the persistent parents if missing. Every role calls this at start,
 * possibly at the same moment: a node another process just created is fine.
 * A member puts the cluster's ACL on each, whoever made it (a cluster that
 * ran without security left them open): only members may then add
 * chunkservers and candidates under them, or remove them.
 */
export async function ensurePaths(session: ZkSession): Promise<void> {
  for (const path of PARENTS) {
    try {
      await withReconnect(session, () => session.client.create(path, '', ZooKeeper.constants.ZOO_PERSISTENT));
    } catch (err) {
      if (!isZkError(err, ZK.NODEEXISTS)) throw toOfsZkError(err, `creating ${path}`);
    }
    try {
      await session.protect(path);
    } catch (err) {
      throw toOfsZkError(err, `setting the ACL of ${path}`);
    }
  }
}
