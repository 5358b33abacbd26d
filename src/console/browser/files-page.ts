import type { ReplyOf } from '../../transport/protocol.js';
import { browseHref, errorBox, fileHref, formatBytes, formatTime, getJson, h, joinPath, page, show } from './dom.js';

type Listing = ReplyOf<'master.list'> & { path: string };

/** Links to each directory above `path`, then its own name. */
export function breadcrumbs(path: string): HTMLElement {
  const parts = path.split('/').filter((p) => p !== '');
  const crumbs = parts.map((part, i) => {
    const at = `/${parts.slice(0, i + 1).join('/')}`;
    return [i > 0 ? h('span', { class: 'muted' }, '/') : null, i === parts.length - 1 ? h('span', {}, part) : h('a', { href: browseHref(at) }, part)];
  });
  return h('div', { class: 'crumbs' }, h('a', { href: browseHref('/') }, '/'), crumbs);
}

/** One page of a directory (the master's own listing, a page after `after`), with a link to the next. */
export async function filesPage(query: URLSearchParams): Promise<void> {
  const path = query.get('path') ?? '/';
  const after = query.get('after') ?? undefined;
  document.title = `OFS · ${path}`;
  const root = page();
  const api = new URLSearchParams({ path });
  if (after !== undefined) api.set('after', after);
  let listing: Listing;
  try {
    listing = await getJson<Listing>(`/api/list?${api}`);
  } catch (err) {
    show(root, h('h1', {}, path), errorBox(err));
    return;
  }
  const rows = listing.entries.map((e) => {
    const full = joinPath(path, e.name);
    return h('tr', { 'data-name': e.name, 'data-type': e.type },
      h('td', { class: 'muted' }, e.type),
      h('td', { class: 'name' }, h('a', { href: e.type === 'dir' ? browseHref(full) : fileHref(full) }, e.type === 'dir' ? `${e.name}/` : e.name)),
      h('td', { class: 'num size', 'data-bytes': e.size }, e.type === 'dir' ? '' : formatBytes(e.size)),
      h('td', { class: 'mtime' }, formatTime(e.mtime)),
    );
  });
  const last = listing.entries.at(-1);
  show(root,
    h('h1', {}, breadcrumbs(path)),
    after !== undefined ? h('p', { class: 'muted' }, 'entries after ', h('code', {}, after), ' · ', h('a', { href: browseHref(path) }, 'first page')) : null,
    rows.length > 0
      ? h('table', { id: 'entries' }, h('thead', {}, h('tr', {}, h('th', {}, 'type'), h('th', {}, 'name'), h('th', { class: 'num' }, 'size'), h('th', {}, 'modified'))), h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'empty directory'),
    listing.more && last ? h('p', {}, h('a', { id: 'next-page', href: browseHref(path, last.name) }, 'next page →')) : null,
  );
}
