import type { ReplyOf } from '../transport/protocol.js';
import { needsAttention } from '../core/master-queries.js';
import type { ConsoleMaster } from './host.js';

/**
 * The console's data views: master replies shaped for a page, in one place
 * shared by the JSON API and the live feed, and by the browser code (types).
 */

/** What the cluster page shows, and what the live feed pushes every second. */
export interface ClusterSummary {
  status: ReplyOf<'master.status'>;
  replication: ReplyOf<'master.replication'>;
  masters: ConsoleMaster[];
  /** When the master took it (epoch ms), so a page can tell a stalled feed. */
  at: number;
}

export type FsckChunk = ReplyOf<'master.fsck'>['files'][number]['chunks'][number];

/** One chunk that needs an operator's eye, with its file. */
export interface FsckProblem extends FsckChunk {
  path: string;
}

export interface FsckView {
  path: string;
  summary: ReplyOf<'master.fsck'>['summary'];
  replication: number;
  /** The first `cap` problem chunks in path order; `more` counts those left out. */
  problems: FsckProblem[];
  more: number;
  /** Files the master's answer left out (it lists 512 KiB of them, those needing attention first): their chunks are in the summary only. */
  unlisted: number;
}

/** Chunks short of live replicas, missing, or with stale or corrupt copies still about: healthy ones are only counted. */
export function fsckView(path: string, report: ReplyOf<'master.fsck'>, cap: number): FsckView {
  const problems: FsckProblem[] = [];
  let more = 0;
  for (const file of report.files) {
    for (const chunk of file.chunks) {
      if (!needsAttention(chunk)) continue;
      if (problems.length < cap) problems.push({ path: file.path, ...chunk });
      else more++;
    }
  }
  return { path, summary: report.summary, replication: report.replication, problems, more, unlisted: report.unlisted };
}
