import { Option } from 'commander';
import { OfsError } from '../core/errors.js';
import { loadMemberCredentials, type MemberCredentials } from '../security/member-credentials.js';

/** Where a process finds the cluster's keys (`ofs keys init`, or DIR/keys of `ofs cluster up`). */
export const keysOption = () => new Option('--keys <dir>', "the cluster's keys directory (ofs keys init --dir DIR)").env('OFS_KEYS');

export const insecureOption = () => new Option('--insecure', 'no CURVE and no ZooKeeper ACLs: anyone who can reach the ports may do anything (a throwaway local cluster only)');

/** CURVE on chunkservers' data sockets too: bulk bytes encrypted, at about a quarter of the throughput (docs/design.md, "Security"). */
export const encryptDataOption = () =>
  new Option('--encrypt-data', 'CURVE on the data sockets too: chunk bytes encrypted on the wire, writes and reads ~4x slower (default: plain, authorised by capability tokens)').conflicts('insecure');

/** A master's or chunkserver's keys: required unless it is told to run without security. */
export async function memberCredentials(
  role: 'master' | 'chunkserver',
  opts: { keys?: string; insecure?: boolean },
): Promise<MemberCredentials | undefined> {
  if (opts.insecure) {
    if (opts.keys) throw new OfsError('EINVAL', '--insecure and --keys (or OFS_KEYS) contradict each other: pass one');
    return undefined;
  }
  if (!opts.keys) throw new OfsError('EINVAL', `a ${role} needs the cluster's keys: pass --keys DIR or set OFS_KEYS (make them with: ofs keys init --dir DIR), or run it with --insecure`);
  return loadMemberCredentials(opts.keys, role);
}
