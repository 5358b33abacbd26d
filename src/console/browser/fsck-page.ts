import type { FsckView } from '../views.js';
import { replicationView } from './cluster-page.js';
import { errorBox, fileHref, getJson, h, page, show } from './dom.js';
import { followCluster } from './live.js';

/**
 * Replica health below a path (the master's fsck, on load and when asked
 * again, since it looks at every file there) and, live, the copies that
 * re-replication and balancing have under way.
 */
export function fsckPage(query: URLSearchParams): void {
  const path = query.get('path') ?? '/';
  document.title = `OFS · fsck ${path}`;
  const report = h('div', { id: 'fsck' }, h('p', { class: 'muted' }, 'checking…'));
  const progress = h('div', {}, h('p', { class: 'muted' }, 'waiting for the master…'));
  const check = async () => show(report, ...(await getJson<FsckView>(`/api/fsck?${new URLSearchParams({ path })}`).then(fsckTables, (err) => [errorBox(err)])));
  show(page(),
    h('h1', {}, 'Fsck ', h('code', {}, path)),
    h('p', {}, h('button', { id: 'recheck', onclick: () => void check() }, 'Check again')),
    report,
    h('h2', {}, 'Re-replication and balancing (live)'),
    progress,
  );
  void check();
  followCluster((summary) => show(progress, replicationView(summary.replication)));
}

function fsckTables(view: FsckView): (HTMLElement | null)[] {
  const { summary } = view;
  const counts: [string, number, string][] = [
    ['files', summary.files, ''],
    ['chunks', summary.chunks, ''],
    ['healthy', summary.healthy, 'ok'],
    ['under-replicated', summary.underReplicated, summary.underReplicated > 0 ? 'warn' : ''],
    ['missing', summary.missing, summary.missing > 0 ? 'bad' : ''],
    ['stale replicas', summary.stale, summary.stale > 0 ? 'warn' : ''],
    ['corrupt replicas', summary.corrupt, summary.corrupt > 0 ? 'bad' : ''],
  ];
  const rows = view.problems.map((p) =>
    h('tr', { 'data-chunk': p.chunkId },
      h('td', {}, h('a', { href: fileHref(p.path) }, p.path)),
      h('td', { class: 'num' }, p.index),
      h('td', {}, p.chunkId),
      h('td', { class: 'num' }, p.version),
      h('td', { class: p.status === 'missing' ? 'bad' : p.status === 'healthy' ? 'ok' : 'warn' }, p.status),
      h('td', {}, `${p.live.length}/${view.replication}`, ' ', h('span', { class: 'muted' }, p.live.join(' '))),
      h('td', {}, p.stale.map((s) => `${s.id} (v${s.version})`).join(' ')),
      h('td', { class: 'bad' }, p.corrupt.join(' ')),
    ),
  );
  return [
    h('div', { class: 'cards' }, counts.map(([label, value, tone]) =>
      h('div', { class: 'card', 'data-count': label }, h('div', { class: 'label' }, label), h('div', { class: `value ${tone}` }, value)))),
    h('h2', {}, 'Chunks needing attention'),
    rows.length > 0
      ? h('table', { id: 'problems' },
          h('thead', {}, h('tr', {}, h('th', {}, 'file'), h('th', { class: 'num' }, '#'), h('th', {}, 'chunk'), h('th', { class: 'num' }, 'version'), h('th', {}, 'status'), h('th', {}, 'live'), h('th', {}, 'stale'), h('th', {}, 'corrupt'))),
          h('tbody', {}, rows))
      : h('p', { class: 'ok', id: 'problems' }, 'Every chunk has all its replicas.'),
    view.more > 0 ? h('p', { class: 'muted' }, `and ${view.more} more`) : null,
    view.unlisted > 0 ? h('p', { class: 'muted', id: 'unlisted' }, `${view.unlisted} files not listed (one answer holds 512 KiB of them, those needing attention first): the counts above include them`) : null,
  ];
}
