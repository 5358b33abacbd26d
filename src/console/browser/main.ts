import { clusterPage } from './cluster-page.js';
import { errorBox, page, show } from './dom.js';
import { filePage } from './file-page.js';
import { filesPage } from './files-page.js';
import { fsckPage } from './fsck-page.js';

/** The console's entry point: every page is the same shell, drawn here from its URL. */
const query = new URLSearchParams(location.search);
const pages: Record<string, () => void | Promise<void>> = {
  '/console/': clusterPage,
  '/console/files': () => filesPage(query),
  '/console/file': () => filePage(query),
  '/console/fsck': () => fsckPage(query),
};
const draw = pages[location.pathname];
if (draw) Promise.resolve(draw()).catch((err: unknown) => show(page(), errorBox(err)));
