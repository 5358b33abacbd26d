// Browser code (an ES module the console page loads): builds the DOM from data.

type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

/**
 * An element with its attributes and children. Strings become text nodes,
 * never markup: a file named `<img onerror=…>` shows as those characters.
 * That is the console's HTML escaping, for every name it shows.
 */
export function h(tag: string, props: Props = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(key.replace(/^on/, ''), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `parent` holds. */
export function show(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

export function page(): HTMLElement {
  return document.getElementById('page')!;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleString();
}

export function formatAge(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s ago` : `${Math.round(ms / 1000)} s ago`;
}

/** The console URL of a directory's listing, or of a file's page. */
export function browseHref(path: string, after?: string): string {
  const query = new URLSearchParams({ path });
  if (after !== undefined) query.set('after', after);
  return `/console/files?${query}`;
}

export function fileHref(path: string): string {
  return `/console/file?${new URLSearchParams({ path })}`;
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** A console API's answer; its `{error}` reply becomes an Error with the master's message. */
export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { cache: 'no-store' });
  const body = (await response.json()) as T & { error?: { code: string; message: string } };
  if (!response.ok) throw new Error(body.error ? `${body.error.message} (${body.error.code})` : `${url}: HTTP ${response.status}`);
  return body;
}

export function errorBox(err: unknown): HTMLElement {
  return h('p', { class: 'error' }, (err as Error).message);
}

/** A bar for a fraction 0–1: green, amber past 80 %, red past 95 %. */
export function fillBar(fraction: number, label: string): HTMLElement {
  const percent = Math.max(0, Math.min(100, fraction * 100));
  const level = percent > 95 ? 'bar full' : percent > 80 ? 'bar high' : 'bar';
  const filled = h('span');
  // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
  filled.style.width = `${percent.toFixed(1)}%`;
  return h('span', { class: level, title: label, 'data-fill': percent.toFixed(1) }, filled);
}
