import { z } from 'zod';
import type { MessageType, ReplyOf, RequestOf } from '../transport/protocol.js';
import type { RpcClient } from '../transport/rpc-client.js';
import type { MemberInfo } from '../zk/members.js';

/** What the console needs of the master process that serves it. */
export interface ConsoleHost {
  id: string;
  /** Serving as the active master now (a standby has no cluster view to show). */
  isActive(): boolean;
  /** The masters in the election as last watched; the first is the active one. */
  masters(): readonly MemberInfo[];
  /** One request to this master, answered by its own query code exactly as a client's would be. */
  call<T extends MessageType>(type: T, body: RequestOf<T>): Promise<ReplyOf<T>>;
  /** For reading file bytes from the chunkservers. */
  rpc: RpcClient;
}

/** A master's console as its election znode advertises it (`http` is absent in a znode of an older master). */
export interface ConsoleMaster {
  id: string;
  http?: string;
}

const advertisedHttp = z.url({ protocol: /^http$/ });

/** The masters with the console address each advertises; an address that does not parse is left out, never followed. */
export function consoleMasters(host: ConsoleHost): ConsoleMaster[] {
  return host.masters().map(({ id, http }) => {
    const parsed = advertisedHttp.safeParse(http);
    return parsed.success ? { id, http: parsed.data.replace(/\/$/, '') } : { id };
  });
}

/** Where a console request goes: served here, sent to the active master's console, or refused for now. */
export type Placement = { serve: true } | { serve: false; redirect: string } | { serve: false; unavailable: string };

/**
 * Only the active master has the cluster view (the chunkservers report to
 * it alone), so a standby sends the browser to the active master's console,
 * found in its election znode. While none is known (an election under way,
 * this master taking over) the request is refused with a reason to retry.
 */
export function placement(host: ConsoleHost): Placement {
  if (host.isActive()) return { serve: true };
  const [active] = consoleMasters(host);
  if (!active || active.id === host.id) return { serve: false, unavailable: `master ${host.id} is not serving yet and no other master is active: try again in a few seconds` };
  if (!active.http) return { serve: false, unavailable: `the active master ${active.id} advertises no console address` };
  return { serve: false, redirect: active.http };
}
