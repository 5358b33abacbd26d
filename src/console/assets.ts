import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONSOLE_CSS } from './style.js';

/** A file the console serves as it is. */
export interface Asset {
  type: string;
  body: Buffer;
}

/**
 * Where the pages may fetch from: this origin only (and the blob: URLs the
 * image viewer makes), so nothing outside the cluster is ever loaded, and
 * no inline script runs, whatever a file name holds.
 */
export const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The page every console URL starts as: the browser code reads its URL and
 * draws the page from the JSON APIs, so no user data is ever written into
 * HTML here (the browser code sets names as text, never as markup).
 */
export const SHELL_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>OFS console</title>
<link rel="stylesheet" href="/console/style.css">
<script type="module" src="/console/js/main.js"></script>
</head>
<body>
<header>
  <strong>OFS</strong>
  <nav><a href="/console/">Cluster</a><a href="/console/files">Files</a><a href="/console/fsck">Fsck</a></nav>
  <span id="feed" class="feed"></span>
</header>
<main id="page"></main>
</body>
</html>
`;

/**
 * The browser code, compiled by the project's own `tsc` from
 * src/console/browser next to this module: ES modules a page loads from
 * `/console/js/`. Read once, at start: they change only with a new build.
 */
export function loadAssets(): Map<string, Asset> {
  const dir = fileURLToPath(new URL('./browser/', import.meta.url));
  const assets = new Map<string, Asset>([['/console/style.css', { type: 'text/css; charset=utf-8', body: Buffer.from(CONSOLE_CSS) }]]);
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
    // The source maps are not served: a browser would ask for them in vain.
    const code = readFileSync(`${dir}${name}`, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
    assets.set(`/console/js/${name}`, { type: 'text/javascript; charset=utf-8', body: Buffer.from(code) });
  }
  return assets;
}
