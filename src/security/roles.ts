import type { MessageType } from '../transport/protocol.js';

/**
 * Who may say what on the wire. Every process holds the key pair of one
 * role kind (docs/design.md, "Security"): a standby is a master process that
 * is not active, so it holds the master key.
 */
export const ROLES = ['master', 'chunkserver', 'client', 'operator'] as const;
export type Role = (typeof ROLES)[number];

/** What any user of the file system sends: the namespace to the master, bytes to chunkservers. */
const CLIENT_CALLS = [
  'master.mkdir', 'master.create', 'master.put', 'master.lease', 'master.extend', 'master.locate', 'master.list',
  'master.delete', 'master.rename', 'master.undelete', 'master.chmod', 'master.chown', 'master.status', 'master.fsck',
  'master.replication', 'chunk.push', 'chunk.commit', 'chunk.read',
] as const satisfies readonly MessageType[];

/** What costs the whole cluster (moving replicas, writing a checkpoint of the namespace): the operator's, as HDFS's balancer and saveNamespace are the superuser's. */
const OPERATOR_CALLS = ['master.balance', 'master.checkpoint'] as const satisfies readonly MessageType[];

/**
 * The message types each role may send. A client key cannot order a
 * chunkserver about (chunk.setVersion, chunk.copyFrom, chunk.apply), attach
 * as a standby or stream events into one, or speak for a chunkserver to the
 * master. Masters may also send the client calls: the Web console and a
 * standby's status checks are clients of the active master.
 */
const MAY_SEND: Record<Role, ReadonlySet<MessageType>> = {
  client: new Set(CLIENT_CALLS),
  operator: new Set([...CLIENT_CALLS, ...OPERATOR_CALLS, 'admin.crashActor', 'admin.blockEventLoop']),
  master: new Set([
    ...CLIENT_CALLS,
    ...OPERATOR_CALLS,
    'master.attachStandby', 'master.snapshotPiece', 'standby.append', 'chunkserver.report',
    'chunk.setVersion', 'chunk.revokeLease', 'chunk.copyFrom',
  ]),
  // chunk.push and chunk.apply go down a mutation's chain, chunk.read is a re-replication copy's source.
  chunkserver: new Set(['master.heartbeat', 'master.reportCorrupt', 'master.chunkReport', 'chunk.push', 'chunk.apply', 'chunk.read']),
};

export function maySend(role: Role, type: MessageType): boolean {
  return MAY_SEND[role].has(type);
}

/**
 * The role of the process that answers `type`: which server key a
 * connection for it must expect. `admin.*` is answered by every role, so its
 * caller names the peer.
 */
export function serverRoleOf(type: MessageType): Role | undefined {
  if (type.startsWith('master.') || type.startsWith('standby.')) return 'master';
  if (type.startsWith('chunk.') || type.startsWith('chunkserver.')) return 'chunkserver';
  return undefined;
}
