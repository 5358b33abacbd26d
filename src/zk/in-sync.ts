import ZooKeeper from 'zookeeper';
import { z } from 'zod';
import { OfsError } from '../core/errors.js';
import { ZK_ROOT } from './paths.js';
import { withReconnect, type ZkSession } from './session.js';
import { isZkError, toOfsZkError, ZK } from './zk-errors.js';

/**
 * The masters whose copy of the metadata is complete (Kafka's "in-sync
 * replicas"). The active master writes it before it acknowledges anything
 * without a standby, so a master that fell behind can see, when ZooKeeper
 * elects it, that it must not serve: it would silently lose acknowledged work.
 */
export const IN_SYNC_PATH = `${ZK_ROOT}/in-sync`;

const inSyncSchema = z.object({ epoch: z.number().int().nonnegative(), members: z.array(z.string()) });
export type InSync = z.infer<typeof inSyncSchema>;

export async function readInSync(session: ZkSession): Promise<InSync | undefined> {
  return (await readVersioned(session))?.value;
}

/**
 * Sets the in-sync set as the master of `epoch`. Refused with ESTALE when a
 * master of a later epoch wrote it: the caller has been replaced and must stop.
 */
export async function writeInSync(session: ZkSession, epoch: number, members: string[]): Promise<void> {
  const data = JSON.stringify({ epoch, members });
  for (;;) {
    const current = await readVersioned(session);
    if (current && current.value.epoch > epoch) {
      throw new OfsError('ESTALE', `the in-sync set belongs to epoch ${current.value.epoch}, this master has epoch ${epoch}`);
    }
    try {
      if (current) {
        await withReconnect(session, () => session.client.set(IN_SYNC_PATH, data, current.version));
      } else {
        await withReconnect(session, () => session.client.create(IN_SYNC_PATH, data, ZooKeeper.constants.ZOO_PERSISTENT));
        await session.protect(IN_SYNC_PATH);
      }
      return;
    } catch (err) {
      // Lost a race with another writer: read again and re-check its epoch.
      if (!isZkError(err, ZK.BADVERSION) && !isZkError(err, ZK.NODEEXISTS)) throw toOfsZkError(err, `writing ${IN_SYNC_PATH}`);
    }
  }
}

async function readVersioned(session: ZkSession): Promise<{ value: InSync; version: number } | undefined> {
  let stat: { version: number };
  let data: unknown;
  try {
    [stat, data] = await withReconnect(session, () => session.client.get(IN_SYNC_PATH, false));
  } catch (err) {
    if (isZkError(err, ZK.NONODE)) return undefined;
    throw toOfsZkError(err, `reading ${IN_SYNC_PATH}`);
  }
  const parsed = inSyncSchema.safeParse(JSON.parse(String(data)));
  if (!parsed.success) throw new OfsError('EINTERNAL', `invariant broken: ${IN_SYNC_PATH} holds ${String(data)}`);
  return { value: parsed.data, version: stat.version };
}
