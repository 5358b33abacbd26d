import type { ClusterStatus, DirectoryEntry, FileStat, FsckReport } from '../client/ofs-client.js';
import { formatMode } from '../core/permissions.js';
import { needsAttention } from '../core/master-queries.js';

/** Human-readable output of the client verbs; `--json` prints the raw reply instead. */

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** Like `hdfs dfs -ls`: type and mode, owner, group, size, modification time, name. */
export function formatListing(entries: DirectoryEntry[]): string {
  return entries
    .map((e) => `${formatMode(e.type, e.mode)} ${e.owner} ${e.group} ${String(e.size).padStart(12)} ${formatTime(e.mtime)} ${e.name}${e.type === 'dir' ? '/' : ''}`)
    .join('\n');
}

export function formatStat(stat: FileStat): string {
  const lines = [
    `path:    ${stat.path}`,
    `type:    ${stat.type}`,
    `size:    ${stat.size} (${formatBytes(stat.size)})`,
    `mtime:   ${formatTime(stat.mtime)}`,
    `mode:    ${formatMode(stat.type, stat.mode)} (${stat.mode.toString(8).padStart(4, '0')})`,
    `owner:   ${stat.owner}`,
    `group:   ${stat.group}`,
  ];
  if (stat.type === 'file' && (stat.chunks.length > 0 || stat.size === 0)) {
    lines.push(`chunks:  ${stat.chunks.length} of up to ${formatBytes(stat.chunkSize)}`);
    for (const c of stat.chunks) {
      const where = c.replicas.map((r) => r.id).join(', ') || 'no live replica';
      const lease = c.primary ? `, lease held by ${c.primary}` : '';
      lines.push(`  #${c.index} ${c.chunkId} v${c.version} ${c.length} bytes, ${c.replicas.length} replicas: ${where}${lease}`);
    }
  }
  return lines.join('\n');
}

function formatStandby(s: ClusterStatus['standby'][number]): string {
  const lag = s.lag === null ? 'not attached' : !s.inSync ? 'installing its snapshot, catching up' : s.lag === 0 ? 'in sync' : `in sync, ${s.lag} events in flight`;
  return `${s.id} at ${s.address} (${lag})`;
}

export function formatStatus(status: ClusterStatus): string {
  const lines = [
    `active master:  ${status.master.id} at ${status.master.address} (epoch ${status.master.epoch}, event ${status.master.seq})`,
    `standby:        ${status.standby.map(formatStandby).join(', ') || 'none: mutations are durable on the active master only'}`,
    `files: ${status.files}   chunks: ${status.chunks}   under-replicated: ${status.underReplicated ?? '?'}   replication: ${status.replication}   chunk size: ${formatBytes(status.chunkSize)}`,
    `chunkservers:   ${status.chunkservers.length} live`,
  ];
  for (const cs of status.chunkservers) {
    lines.push(`  ${cs.id}  ${cs.address}  chunks ${cs.chunkCount}  used ${formatBytes(cs.used)}  free ${formatBytes(cs.free)}`);
  }
  return lines.join('\n');
}

/** Like `hdfs fsck`: the chunks that need attention, then a summary and a verdict. */
export function formatFsck(report: FsckReport): string {
  const lines: string[] = [];
  for (const file of report.files) {
    for (const c of file.chunks.filter(needsAttention)) {
      const stale = c.stale.length > 0 ? `; stale: ${c.stale.map((s) => `${s.id} (v${s.version})`).join(', ')}` : '';
      const corrupt = c.corrupt.length > 0 ? `; corrupt: ${c.corrupt.join(', ')}` : '';
      const where = c.live.length > 0 ? ` (${c.live.join(', ')})` : '';
      lines.push(`${file.path} #${c.index} ${c.chunkId} v${c.version}: ${c.live.length} of ${report.replication} replicas${where} ${c.status.toUpperCase()}${stale}${corrupt}`);
    }
  }
  const s = report.summary;
  if (report.unlisted > 0) lines.push(`(${report.unlisted} files not listed: one answer holds 512 KiB of them, those that need attention first)`);
  lines.push(
    `files: ${s.files}   chunks: ${s.chunks}   healthy: ${s.healthy}   under-replicated: ${s.underReplicated}   missing: ${s.missing}   stale replicas: ${s.stale}   corrupt replicas: ${s.corrupt}`,
    s.missing > 0 ? `status: CORRUPT: ${s.missing} chunks have no live replica` : s.underReplicated > 0 ? 'status: HEALTHY (under-replicated chunks are being copied)' : 'status: HEALTHY',
  );
  return lines.join('\n');
}
