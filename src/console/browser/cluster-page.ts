import type { ClusterSummary } from '../views.js';
import { fillBar, formatAge, formatBytes, h, page, show } from './dom.js';
import { followCluster } from './live.js';

/** The cluster: masters, standby, chunkservers with their fill, re-replication and balancing, redrawn at every push. */
export function clusterPage(): void {
  document.title = 'OFS · cluster';
  const root = page();
  show(root, h('p', { class: 'muted' }, 'waiting for the master…'));
  followCluster((summary) => show(root, ...clusterView(summary)));
}

function card(label: string, value: string | number, id: string): HTMLElement {
  return h('div', { class: 'card', id }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
}

function clusterView({ status, replication, masters }: ClusterSummary): HTMLElement[] {
  const consoles = new Map(masters.map((m) => [m.id, m.http]));
  const link = (id: string) => {
    const http = consoles.get(id);
    return http ? h('a', { href: `${http}/console/` }, id) : id;
  };
  const standby = status.standby.map((s) =>
    h('tr', { 'data-id': s.id },
      h('td', {}, link(s.id)),
      h('td', { class: 'muted' }, s.address),
      h('td', { class: 'num lag' }, s.lag === null ? 'not attached' : s.lag),
      h('td', { class: s.inSync ? 'ok in-sync' : 'warn in-sync' }, s.inSync ? 'in sync' : 'catching up'),
    ),
  );
  const servers = status.chunkservers.map((cs) =>
    h('tr', { 'data-id': cs.id },
      h('td', { class: 'id' }, cs.id),
      h('td', { class: 'muted' }, cs.address),
      h('td', { class: 'num chunks' }, cs.chunkCount),
      h('td', {}, fillBar(cs.capacity > 0 ? cs.used / cs.capacity : 0, `${formatBytes(cs.used)} of ${formatBytes(cs.capacity)}`), ' ', formatBytes(cs.used)),
      h('td', { class: 'num' }, formatBytes(cs.free)),
      h('td', { class: 'num heartbeat' }, formatAge(cs.lastHeartbeatMs)),
    ),
  );
  return [
    h('h1', {}, 'Cluster'),
    h('div', { class: 'cards' },
      card('active master', status.master.id, 'active-master'),
      card('epoch', status.master.epoch, 'epoch'),
      card('events', status.master.seq, 'seq'),
      card('files', status.files, 'files'),
      card('chunks', status.chunks, 'chunks'),
      card('chunkservers', status.chunkservers.length, 'chunkserver-count'),
      card('replication', status.replication, 'replication'),
      card('chunk size', formatBytes(status.chunkSize), 'chunk-size'),
    ),
    h('h2', {}, 'Standby masters'),
    standby.length > 0
      ? h('table', { id: 'standby' }, h('thead', {}, h('tr', {}, h('th', {}, 'id'), h('th', {}, 'address'), h('th', { class: 'num' }, 'events behind'), h('th', {}, 'state'))), h('tbody', {}, standby))
      : h('p', { class: 'warn', id: 'standby' }, 'No standby: mutations are durable on the active master alone.'),
    h('h2', {}, 'Chunkservers'),
    h('table', { id: 'chunkservers' },
      h('thead', {}, h('tr', {}, h('th', {}, 'id'), h('th', {}, 'address'), h('th', { class: 'num' }, 'chunks'), h('th', {}, 'used'), h('th', { class: 'num' }, 'free'), h('th', { class: 'num' }, 'heartbeat'))),
      h('tbody', {}, servers),
    ),
    h('h2', {}, 'Re-replication and balancing'),
    replicationView(replication),
  ];
}

/** Copies under way (restoring replicas, or a balancing move) and balancing's spread against its goal. */
export function replicationView(replication: ClusterSummary['replication']): HTMLElement {
  const percent = (fraction: number) => `${(fraction * 100).toFixed(1)} %`;
  return h('div', { id: 'replication' },
    h('p', {},
      h('span', { id: 'copies' }, `${replication.copies.length} cop${replication.copies.length === 1 ? 'y' : 'ies'} under way`),
      ` · fill spread ${percent(replication.spread)} (goal ≤ ${percent(replication.threshold)}) · ${replication.moved} replicas moved by balancing`,
    ),
    replication.copies.length > 0
      ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'chunk'), h('th', {}, 'from'), h('th', {}, 'to'))),
          h('tbody', {}, replication.copies.map((c) => h('tr', {}, h('td', {}, c.chunkId), h('td', {}, c.source), h('td', {}, c.target)))))
      : null,
  );
}
