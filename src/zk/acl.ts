import { createHash } from 'node:crypto';
import ZooKeeper from 'zookeeper';

export type ZkAcl = Parameters<ZooKeeper['set_acl']>[2];

/**
 * Holders of the cluster's digest (`user:password`) may do anything; anyone
 * may read. ZooKeeper's digest scheme names the user by
 * `user:base64(sha1(user:password))`, so the ACL holds no secret.
 */
export function membersOnlyAcl(digest: string): ZkAcl {
  const user = digest.slice(0, digest.indexOf(':'));
  const id = `${user}:${createHash('sha1').update(digest).digest('base64')}`;
  return [
    { perms: ZooKeeper.constants.ZOO_PERM_ALL, scheme: 'digest', auth: id },
    { perms: ZooKeeper.constants.ZOO_PERM_READ, scheme: 'world', auth: 'anyone' },
  ];
}
