import { dispatch, spawnStateless, type Ref } from 'nact';
import type { MasterMessage } from './master-messages.js';

export type GarbageMessage = { kind: 'tick'; now: number };

/**
 * The GC actor (GFS 4.4): deleted files wait in the trash for `keepMs` (so
 * `ofs undelete` can bring them back), then it has the master delete them
 * for good; their chunks then go through the chunkservers' heartbeats.
 */
export function spawnGarbageCollector(parent: Ref<unknown>, master: Ref<MasterMessage>, keepMs: number): Ref<GarbageMessage> {
  return spawnStateless(parent, (msg: GarbageMessage) => dispatch(master, { kind: 'collect-garbage', now: msg.now, keepMs }), 'garbage-collector');
}
