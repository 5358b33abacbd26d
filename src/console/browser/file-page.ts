import type { ReplyOf } from '../../transport/protocol.js';
import { errorBox, formatBytes, formatTime, getJson, h, page, show } from './dom.js';
import { breadcrumbs } from './files-page.js';
import { fileViewer } from './viewer.js';

type Located = ReplyOf<'master.locate'>;

/** A file: its size and times, its first chunks each with its version, replicas and lease holder, and a look at its first bytes. */
export async function filePage(query: URLSearchParams): Promise<void> {
  const path = query.get('path') ?? '/';
  document.title = `OFS · ${path}`;
  const root = page();
  let file: Located;
  try {
    file = await getJson<Located>(`/api/file?${new URLSearchParams({ path })}`);
  } catch (err) {
    show(root, h('h1', {}, path), errorBox(err));
    return;
  }
  if (file.type === 'dir') {
    location.replace(`/console/files?${new URLSearchParams({ path })}`);
    return;
  }
  const chunks = file.chunks.map((c) =>
    h('tr', { 'data-chunk': c.chunkId },
      h('td', { class: 'num' }, c.index),
      h('td', { class: 'chunk-id' }, c.chunkId),
      h('td', { class: 'num version' }, c.version),
      h('td', { class: 'num' }, formatBytes(c.length)),
      h('td', { class: 'replicas' }, c.replicas.length === 0 ? h('span', { class: 'bad' }, c.version === 0 ? 'hole (never written)' : 'none live') : c.replicas.map((r) => h('span', { class: 'replica', 'data-id': r.id }, r.id, ' '))),
      h('td', { class: 'primary' }, c.primary ?? h('span', { class: 'muted' }, 'no lease')),
    ),
  );
  show(root,
    h('h1', {}, breadcrumbs(path)),
    h('div', { class: 'cards' },
      h('div', { class: 'card' }, h('div', { class: 'label' }, 'size'), h('div', { class: 'value', id: 'file-size', 'data-bytes': file.size }, formatBytes(file.size))),
      h('div', { class: 'card' }, h('div', { class: 'label' }, 'modified'), h('div', { class: 'value' }, formatTime(file.mtime))),
      h('div', { class: 'card' }, h('div', { class: 'label' }, 'chunks'), h('div', { class: 'value', id: 'chunk-count' }, file.chunkCount)),
      h('div', { class: 'card' }, h('div', { class: 'label' }, 'chunk size'), h('div', { class: 'value' }, formatBytes(file.chunkSize))),
    ),
    h('h2', {}, 'Chunks'),
    h('table', { id: 'chunks' },
      h('thead', {}, h('tr', {}, h('th', { class: 'num' }, '#'), h('th', {}, 'chunk id'), h('th', { class: 'num' }, 'version'), h('th', { class: 'num' }, 'bytes'), h('th', {}, 'replicas'), h('th', {}, 'lease holder (primary)'))),
      h('tbody', {}, chunks),
    ),
    // The master lists a window of chunks per answer: this page shows the first.
    file.chunks.length < file.chunkCount ? h('p', { class: 'muted', id: 'chunks-shown' }, `the first ${file.chunks.length} of ${file.chunkCount} chunks`) : null,
    h('h2', {}, 'Contents'),
    h('p', { class: 'muted' }, 'loading…'),
  );
  const viewer = await fileViewer(path, file.size).catch(errorBox);
  root.lastElementChild!.replaceWith(viewer);
}
