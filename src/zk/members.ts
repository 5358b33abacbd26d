import { z } from 'zod';
import { OfsError } from '../core/errors.js';
import { withReconnect, type ZkSession } from './session.js';
import { isZkError, ZK } from './zk-errors.js';

/**
 * What a process says about itself in its znode: who it is and where to reach
 * it. Roles may add fields; readers keep them.
 */
export interface MemberInfo {
  id: string;
  /** ZeroMQ endpoint, `tcp://host:port`. */
  address: string;
  [key: string]: unknown;
}

const memberInfoSchema = z.looseObject({
  id: z.string().min(1),
  address: z.string().min(1),
});

/** The znode names a member id may take: one path segment, no sequence-like surprises. */
const MEMBER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;

export function validateMemberInfo(info: MemberInfo, role: string): void {
  const parsed = memberInfoSchema.safeParse(info);
  if (!parsed.success) {
    throw new OfsError('EINVAL', `bad ${role} info ${JSON.stringify(info)}: needs a non-empty id and address`);
  }
  if (!MEMBER_ID.test(info.id)) {
    throw new OfsError('EINVAL', `bad ${role} id "${info.id}": use letters, digits and . _ : @ - (it names a znode)`);
  }
}

export function encodeMemberInfo(info: MemberInfo): string {
  return JSON.stringify(info);
}

/** The member in a znode's data, or undefined if the data is not a member (written by someone else). */
export function decodeMemberInfo(data: unknown): MemberInfo | undefined {
  const text = Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = memberInfoSchema.safeParse(json);
  return parsed.success ? (parsed.data as MemberInfo) : undefined;
}

/**
 * Reads the members under `parent` named by `children`, in that order. A
 * child that vanished since it was listed (its session ended) is left out, and
 * so is one whose data is not a member.
 */
export async function readMembers(session: ZkSession, parent: string, children: readonly string[]): Promise<MemberInfo[]> {
  const read = await Promise.all(children.map((child) => readMember(session, `${parent}/${child}`)));
  return read.filter((member): member is MemberInfo => member !== undefined);
}

export async function readMember(session: ZkSession, path: string): Promise<MemberInfo | undefined> {
  try {
    const [, data] = await withReconnect(session, () => session.client.get(path, false));
    return decodeMemberInfo(data);
  } catch (err) {
    if (isZkError(err, ZK.NONODE)) return undefined;
    throw err;
  }
}

/** Two member lists say the same thing (to skip notifying watchers of no change). */
export function sameMembers(a: readonly MemberInfo[], b: readonly MemberInfo[]): boolean {
  return a.length === b.length && a.every((member, i) => JSON.stringify(member) === JSON.stringify(b[i]));
}
