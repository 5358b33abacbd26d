import { dispatch, query, start, stop, type Ref } from 'nact';
import { OfsError } from '../core/errors.js';
import type { MasterEvent } from '../core/events.js';
import { Journal } from '../core/journal.js';
import type { Logger } from '../core/logger.js';
import { applyAll, emptyNamespace } from '../core/namespace.js';
import { protocol, type MessageType } from '../transport/protocol.js';
import { RpcServer, type HandlerMap } from '../transport/rpc-server.js';
import { MasterElection, watchMasters } from '../zk/election.js';
import { incrementEpoch } from '../zk/epoch.js';
import { ensurePaths } from '../zk/paths.js';
import type { MemberInfo } from '../zk/registry.js';
import { watchChunkservers } from '../zk/registry.js';
import { connectZk } from '../zk/session.js';
import { spawnMasterActor, type MasterMessage, type MasterOutcome } from './master-actor.js';
import { loadOrCreateIdentity } from './node-identity.js';

export interface MasterOptions {
  zk: string;
  dir: string;
  host: string;
  port: number;
  chunkSize: number;
  replication: number;
  /** Chunkservers beat this often; three missed beats and one is presumed dead. */
  heartbeatMs: number;
  log: Logger;
  onFatal: (reason: string) => void;
}

export interface RunningMaster {
  id: string;
  address: string;
  isActive(): boolean;
  stop(): Promise<void>;
}

const MASTER_QUERY_TIMEOUT_MS = 30_000;
const MASTER_TYPES = (Object.keys(protocol) as MessageType[]).filter((t) => t.startsWith('master.'));

/**
 * A master process: loads its namespace from its journal, joins the ZooKeeper
 * election, and serves only once elected (a new epoch per term). Until then it
 * answers every request with ENOTACTIVE so callers look up the active one.
 */
export async function runMaster(options: MasterOptions): Promise<RunningMaster> {
  const { log } = options;
  const id = await loadOrCreateIdentity(options.dir, 'master');
  const { journal, records } = await Journal.open(options.dir, { log: (msg) => log.warn(msg) });
  const recovered = applyAll(emptyNamespace, records as MasterEvent[]);
  log.info({ id, events: records.length, seq: recovered.seq }, 'namespace recovered from journal');

  const system = start();
  let actor: Ref<MasterMessage> | undefined;
  let epoch = 0;
  let masters: MemberInfo[] = [];

  const ask = async (type: MessageType, body: unknown) => {
    if (!actor) throw new OfsError('ENOTACTIVE', `master ${id} is not the active master; ask ZooKeeper for the active one`);
    const outcome = (await query(actor, (sender) => ({ kind: 'request', type, body, sender }) as MasterMessage, MASTER_QUERY_TIMEOUT_MS)) as MasterOutcome;
    if (!outcome.ok) throw new OfsError(outcome.code, outcome.message);
    return { body: outcome.body };
  };
  const handlers = Object.fromEntries(MASTER_TYPES.map((type) => [type, (body: unknown) => ask(type, body)])) as HandlerMap;
  const server = await RpcServer.bind(`tcp://${options.host}:${options.port}`, { id, epoch: () => epoch, handlers, log });
  const address = server.address;

  const zk = await connectZk(options.zk);
  zk.onExpired(() => options.onFatal('ZooKeeper session expired: another master may be active now'));
  await ensurePaths(zk);
  const mastersWatch = watchMasters(zk, (list) => (masters = list));
  let lastChunkservers = new Set<string>();
  const tellActor = (msg: MasterMessage): void => {
    if (actor) dispatch(actor, msg);
  };
  // A chunkserver whose ephemeral znode vanished is dead now, not after missed heartbeats.
  const chunkserversWatch = watchChunkservers(zk, (members) => {
    const present = new Set(members.map((m) => m.id));
    for (const known of lastChunkservers) if (!present.has(known)) tellActor({ kind: 'chunkserver-gone', id: known });
    lastChunkservers = present;
  });

  const election = await MasterElection.join(zk, { id, address });
  election.onElected(async () => {
    epoch = await incrementEpoch(zk);
    actor = spawnMasterActor(
      system,
      recovered,
      {
        id,
        address,
        chunkSize: options.chunkSize,
        replication: options.replication,
        heartbeatTimeoutMs: options.heartbeatMs * 3,
        epoch: () => epoch,
        standbys: () => masters.filter((m) => m.id !== id).map(({ id, address }) => ({ id, address })),
      },
      { append: (events) => journal.append(events) },
      log,
    );
    log.info({ id, address, epoch }, 'elected: serving as the active master');
  });
  if (!election.isActive()) log.info({ id, address }, 'standing by: another master is active');

  const expiry = setInterval(() => tellActor({ kind: 'expire-dead', now: Date.now() }), options.heartbeatMs);

  return {
    id,
    address,
    isActive: () => actor !== undefined,
    async stop() {
      clearInterval(expiry);
      mastersWatch.stop();
      chunkserversWatch.stop();
      server.close();
      stop(system as Ref<unknown>);
      await zk.close();
      await journal.close();
    },
  };
}
