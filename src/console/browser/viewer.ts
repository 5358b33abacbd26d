import { formatBytes, h, show } from './dom.js';

/** Image formats recognised by their first bytes (the viewer never trusts a file's name). */
const IMAGE_MAGIC: { type: string; magic: number[] }[] = [
  { type: 'image/png', magic: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { type: 'image/jpeg', magic: [0xff, 0xd8, 0xff] },
  { type: 'image/gif', magic: [0x47, 0x49, 0x46, 0x38] },
  { type: 'image/bmp', magic: [0x42, 0x4d] },
];
const HEX_ROW = 16;

function imageType(bytes: Uint8Array): string | undefined {
  const webp = bytes.length >= 12 && String.fromCharCode(...bytes.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...bytes.subarray(8, 12)) === 'WEBP';
  if (webp) return 'image/webp';
  return IMAGE_MAGIC.find(({ magic }) => magic.every((b, i) => bytes[i] === b))?.type;
}

/** The bytes as UTF-8 text, or undefined if they are not (a character cut at the end of the preview still counts as text). */
function asText(bytes: Uint8Array): string | undefined {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
    return /[\u0000-\u0008\u000e-\u001f]/.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

/** `offset  hex bytes  |ascii|`, 16 bytes a row, like `hexdump -C`. */
export function hexDump(bytes: Uint8Array, offset: number): string {
  const rows: string[] = [];
  for (let at = 0; at < bytes.length; at += HEX_ROW) {
    const row = bytes.subarray(at, at + HEX_ROW);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    rows.push(`${(offset + at).toString(16).padStart(8, '0')}  ${hex.padEnd(HEX_ROW * 3 - 1)}  |${ascii}|`);
  }
  return rows.join('\n');
}

/**
 * The start of a file (the first 64 KiB at most, read by the master from
 * the chunkservers) as text, hex or an image: the likeliest first, the
 * others a click away.
 */
export async function fileViewer(path: string, size: number): Promise<HTMLElement> {
  const response = await fetch(`/api/bytes?${new URLSearchParams({ path })}`, { cache: 'no-store' });
  if (!response.ok) {
    const body = (await response.json()) as { error: { message: string } };
    return h('p', { class: 'error' }, body.error.message);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const offset = Number(response.headers.get('x-ofs-offset') ?? 0);
  const text = asText(bytes);
  const image = imageType(bytes);
  const views: [string, () => HTMLElement][] = [];
  if (image) {
    views.push(['Image', () => {
      const url = URL.createObjectURL(new Blob([bytes], { type: image }));
      return h('img', { id: 'image-view', src: url, alt: path, onload: () => URL.revokeObjectURL(url) });
    }]);
  }
  if (text !== undefined) views.push(['Text', () => h('pre', { id: 'text-view' }, text)]);
  views.push(['Hex', () => h('pre', { id: 'hex-view' }, hexDump(bytes, offset))]);

  const body = h('div', { class: 'viewer' });
  const buttons = views.map(([name, render]) =>
    h('button', { 'data-view': name.toLowerCase(), onclick: () => select(name, render) }, name),
  );
  const select = (name: string, render: () => HTMLElement) => {
    for (const b of buttons) b.className = b.dataset.view === name.toLowerCase() ? 'on' : '';
    show(body, render());
  };
  select(...views[0]!);
  const shown = bytes.length < size ? `the first ${formatBytes(bytes.length)} of ${formatBytes(size)}` : `all ${formatBytes(bytes.length)}`;
  return h('div', { id: 'viewer' }, h('div', { class: 'tabs' }, buttons, h('span', { class: 'muted' }, ' ', shown)), body);
}
