import test from 'ava';
import type { Page } from 'playwright-core';
import type { ClusterStatus, FileStat, OfsClient } from '../../src/client/ofs-client.js';
import { HeadlessChromium, screenshotDir } from '../helpers/browser.js';
import { patternBytes, TestCluster, waitFor } from '../helpers/cluster.js';
import { makePng } from '../helpers/png.js';

/**
 * The web console in a real headless Chromium against a live cluster: each
 * page's contents checked against what `ofs status --json` / `ofs stat
 * --json` say, a screenshot of each saved to test-output/console/.
 */

const CHUNK_SIZE = 256 * 1024;
const TEXT = 'Hello from OFS.\nThe console shows this text as it is: <b>not bold</b> & "quoted".\n';
const BINARY = patternBytes(CHUNK_SIZE + 40_000, 7); // two chunks, more than the viewer's 64 KiB
const IMAGE = makePng(48, 32, (x, y) => [x * 5, y * 8, 160]);
/** A name made of markup: it must show as these characters, never become an element. */
const MARKUP_NAME = '<img src=x onerror="document.title=1">.txt';
const SHOTS = screenshotDir('console');

let cluster: TestCluster;
let client: OfsClient;
let browser: HeadlessChromium;
/** The consoles, by role: `http://127.0.0.1:PORT` from cluster.json. */
let active: string;
let standby: string;

async function cli<T>(...args: string[]): Promise<T> {
  const result = await cluster.ofs([...args, '--json']);
  if (result.code !== 0) throw new Error(`ofs ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout.toString()) as T;
}

/** The HTTP address of the master registered as `roleId`, from cluster.json. */
async function consoleOf(roleId: string): Promise<string> {
  const ids = await cluster.roleIds('master');
  const processId = [...ids].find(([, id]) => id === roleId)?.[0];
  const { httpPort } = await cluster.process(processId!);
  return `http://127.0.0.1:${httpPort}`;
}

test.before(async () => {
  // A small capacity, so that the fill bars show something: the files below take about a sixth of it.
  cluster = await TestCluster.start({ chunkSize: CHUNK_SIZE, capacity: 2 * 1024 * 1024 });
  client = await cluster.client();
  await client.write('/docs/hello.txt', TEXT);
  await client.write(`/docs/${MARKUP_NAME}`, 'x');
  await client.write('/data/blob.bin', BINARY);
  await client.write('/images/dot.png', IMAGE);
  const status = await cli<ClusterStatus>('status');
  active = await consoleOf(status.master.id);
  standby = await consoleOf(status.standby[0]!.id);
  browser = await HeadlessChromium.launch();
});

test.after.always(async () => {
  await browser?.close();
  await client?.close();
  await cluster?.stop();
});

async function open(url: string): Promise<Page> {
  const page = await browser.page();
  await page.goto(url);
  return page;
}

async function shoot(page: Page, name: string): Promise<void> {
  const path = await HeadlessChromium.screenshot(page, SHOTS, name);
  console.log(`screenshot: ${path}`);
}

test('the cluster page shows the active master, its standby and every chunkserver with its fill', async (t) => {
  const page = await open(`${active}/console/`);
  const status = await cli<ClusterStatus>('status');
  await page.locator('#chunkservers tbody tr').nth(status.chunkservers.length - 1).waitFor();
  t.is(await page.locator('#active-master .value').textContent(), status.master.id);
  t.is(await page.locator('#epoch .value').textContent(), String(status.master.epoch));
  t.is(await page.locator('#chunkserver-count .value').textContent(), String(status.chunkservers.length));
  const rows = page.locator('#chunkservers tbody tr');
  // The rows can be drawn before the stylesheet applies (a busy machine): a bar has no width until it does.
  await page.waitForFunction(() => (document.querySelector('#chunkservers [data-fill]')?.getBoundingClientRect().width ?? 0) > 0);
  t.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id'))), status.chunkservers.map((cs) => cs.id));
  for (const cs of status.chunkservers) {
    const row = page.locator(`#chunkservers tr[data-id="${cs.id}"]`);
    t.is(await row.locator('.chunks').textContent(), String(cs.chunkCount), `${cs.id}: chunks`);
    const fill = Number(await row.locator('[data-fill]').getAttribute('data-fill'));
    t.true(fill > 5, `${cs.id}: some fill to see`);
    t.true(Math.abs(fill - (cs.used / cs.capacity) * 100) < 0.5, `${cs.id}: fill ${fill} %`);
    // As drawn: the filled part's width against the bar's, found and measured in one task of the page: the live
    // feed redraws the rows, and a row found before a redraw and measured after is detached (no width, NaN %).
    const drawn = await page.evaluate((id) => {
      const bar = document.querySelector(`#chunkservers tr[data-id="${id}"] [data-fill]`)!;
      return (bar.firstElementChild as HTMLElement).getBoundingClientRect().width / bar.getBoundingClientRect().width;
    }, cs.id);
    t.true(Math.abs(drawn * 100 - fill) < 1, `${cs.id}: bar drawn at ${drawn * 100} %`);
    t.regex((await row.locator('.heartbeat').textContent())!, /^\d+(\.\d)? s ago$/);
  }
  const standbyRow = page.locator(`#standby tr[data-id="${status.standby[0]!.id}"]`);
  t.is(await standbyRow.locator('.in-sync').textContent(), 'in sync');
  t.regex((await page.locator('#copies').textContent())!, /^\d+ cop(y|ies) under way$/);
  await shoot(page, 'cluster');
  await page.close();
});

test('the cluster page follows the cluster live, without reloading', async (t) => {
  const page = await open(`${active}/console/`);
  await page.locator('#files .value').waitFor();
  await page.evaluate(() => ((window as unknown as { sameLoad: boolean }).sameLoad = true));
  const before = Number(await page.locator('#files .value').textContent());
  await client.write('/docs/later.txt', 'written while the page was open');
  const { files } = await cli<ClusterStatus>('status');
  t.is(files, before + 1);
  await page.locator('#files .value', { hasText: new RegExp(`^${files}$`) }).waitFor({ timeout: 10_000 });
  t.true(await page.evaluate(() => (window as unknown as { sameLoad?: boolean }).sameLoad === true), 'the same page, not a reload');
  t.regex((await page.locator('#feed').textContent())!, /^live · master /);
  await page.close();
});

test('the file browser lists a directory with sizes, and names as text', async (t) => {
  const page = await open(`${active}/console/files?path=/docs`);
  await page.locator('#entries').waitFor();
  const listing = (await client.list('/docs')).filter((e) => e.name !== 'later.txt');
  for (const entry of listing) {
    const row = page.locator('#entries tbody tr').filter({ has: page.locator('.name', { hasText: entry.name }) });
    t.is(await row.getAttribute('data-name'), entry.name);
    t.is(Number(await row.locator('.size').getAttribute('data-bytes')), (await cli<FileStat>('stat', `/docs/${entry.name}`)).size, entry.name);
  }
  t.is(await page.locator(`#entries tr[data-name="${MARKUP_NAME.replaceAll('"', '\\"')}"] .name a`).textContent(), MARKUP_NAME);
  t.is(await page.locator('#entries img').count(), 0, 'the name stayed text');
  t.not(await page.title(), '1', 'no script of a name ran');
  await shoot(page, 'files');
  await page.close();
});

/** The chunks table as the page shows it: id, version, replica ids and primary per chunk. */
async function shownChunks(page: Page) {
  await page.locator('#chunks').waitFor();
  return page.locator('#chunks tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({
      chunkId: tr.querySelector('.chunk-id')!.textContent,
      version: Number(tr.querySelector('.version')!.textContent),
      replicas: [...tr.querySelectorAll('.replica')].map((r) => r.getAttribute('data-id')).sort(),
    })),
  );
}

function statChunks(stat: FileStat) {
  return stat.chunks.map((c) => ({ chunkId: c.chunkId, version: c.version, replicas: c.replicas.map((r) => r.id).sort() }));
}

test("a text file's page shows its chunks and replicas, and the text", async (t) => {
  const page = await open(`${active}/console/file?path=/docs/hello.txt`);
  const stat = await cli<FileStat>('stat', '/docs/hello.txt');
  t.deepEqual(await shownChunks(page), statChunks(stat));
  t.is(Number(await page.locator('#file-size').getAttribute('data-bytes')), stat.size);
  t.is(await page.locator('#text-view').textContent(), TEXT);
  t.is(await page.locator('#viewer b').count(), 0, 'markup in a file stays text');
  await shoot(page, 'file-text');
  await page.close();
});

test("a binary file's page shows both chunks and the first 64 KiB in hex", async (t) => {
  const page = await open(`${active}/console/file?path=/data/blob.bin`);
  const stat = await cli<FileStat>('stat', '/data/blob.bin');
  t.is(stat.chunks.length, 2);
  t.deepEqual(await shownChunks(page), statChunks(stat));
  t.is(Number(await page.locator('#file-size').getAttribute('data-bytes')), BINARY.length);
  // A lease holder is shown for each chunk: the primary's id, or that there is no lease now. The page was
  // read before the stat, so a lease that ended in between shows on the page with none in the stat.
  const serverIds = [...(await cluster.roleIds('chunkserver')).values()].join('|');
  for (const [i, c] of stat.chunks.entries()) {
    t.regex((await page.locator('#chunks tbody tr').nth(i).locator('.primary').textContent())!, new RegExp(`^(${c.primary ?? serverIds}|no lease)$`));
  }
  const hex = (await page.locator('#hex-view').textContent())!.split('\n');
  const row = (offset: number) => [...BINARY.subarray(offset, offset + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  t.is(hex.length, 4096, '64 KiB in rows of 16');
  t.true(hex[0]!.startsWith(`00000000  ${row(0)}  |`), hex[0]);
  t.true(hex[4095]!.startsWith(`0000fff0  ${row(0xfff0)}  |`), hex[4095]);
  t.is(await page.locator('#text-view').count(), 0, 'not offered as text');
  await shoot(page, 'file-hex');
  await page.close();
});

test("an image file's page renders the image", async (t) => {
  const page = await open(`${active}/console/file?path=/images/dot.png`);
  const image = page.locator('#image-view');
  await image.waitFor();
  await page.waitForFunction(() => (document.getElementById('image-view') as HTMLImageElement).complete);
  t.is(await image.evaluate((img: HTMLImageElement) => img.naturalWidth), 48);
  t.is(await image.evaluate((img: HTMLImageElement) => img.naturalHeight), 32);
  t.deepEqual(await shownChunks(page), statChunks(await cli<FileStat>('stat', '/images/dot.png')));
  await page.locator('button[data-view="hex"]').click();
  t.true((await page.locator('#hex-view').textContent())!.startsWith('00000000  89 50 4e 47 0d 0a 1a 0a'));
  await page.locator('button[data-view="image"]').click();
  await shoot(page, 'file-image');
  await page.close();
});

test('the fsck page shows what ofs fsck finds', async (t) => {
  const page = await open(`${active}/console/fsck`);
  await page.locator('[data-count="chunks"]').waitFor();
  const { summary } = await cli<{ summary: Record<string, number> }>('fsck', '/');
  const shown = async (label: string) => Number(await page.locator(`[data-count="${label}"] .value`).textContent());
  t.is(await shown('files'), summary.files!);
  t.is(await shown('chunks'), summary.chunks!);
  t.is(await shown('healthy'), summary.healthy!);
  t.is(await shown('under-replicated'), summary.underReplicated!);
  t.is(await shown('missing'), 0);
  await page.locator('#copies').waitFor();
  await shoot(page, 'fsck');
  await page.close();
});

test("a standby sends the browser to the active master's console, same page", async (t) => {
  const masters = (await (await fetch(`${standby}/api/masters`)).json()) as { serving: boolean; masters: { id: string; http: string }[] };
  t.false(masters.serving);
  t.is(masters.masters[0]!.http, active);
  const page = await open(`${standby}/console/files?path=/docs`);
  await page.locator('#entries').waitFor();
  t.is(page.url(), `${active}/console/files?path=/docs`);
  t.is(await page.locator('#entries tr[data-name="hello.txt"] .size').getAttribute('data-bytes'), String(TEXT.length));
  await page.close();
});

test('bad requests get a clear error and change nothing', async (t) => {
  const { master } = await cli<ClusterStatus>('status');
  const get = async (path: string) => {
    const response = await fetch(`${active}${path}`);
    return { status: response.status, body: await response.text() };
  };
  const huge = await get('/api/bytes?path=/data/blob.bin&length=1000000');
  t.is(huge.status, 400);
  t.regex(huge.body, /length: Too big/);
  const missing = await get('/api/file?path=/no/such/file');
  t.is(missing.status, 404);
  t.regex(missing.body, /\/no\/such\/file does not exist/);
  t.is((await get('/api/list?path=relative')).status, 400);
  t.is((await get('/api/list?path=/docs&limit=5000')).status, 400);
  t.is((await get('/api/bytes?path=/docs')).status, 400);
  t.is((await get('/console/nowhere')).status, 404);
  const page = await open(`${active}/console/file?path=/no/such/file`);
  t.regex((await page.locator('.error').textContent())!, /does not exist \(ENOENT\)/);
  await page.close();
  t.is((await cli<ClusterStatus>('status')).master.seq, master.seq, 'no event journaled');
});

// Last: it kills a master.
test("when the active master dies, an open page moves on to the new active master's console by itself", async (t) => {
  const page = await open(`${active}/console/`);
  const { master, standby: [next] } = await cli<ClusterStatus>('status');
  await page.locator('#active-master .value', { hasText: master.id }).waitFor();
  const errorsBefore = browser.errors.length;
  const processId = [...(await cluster.roleIds('master'))].find(([, id]) => id === master.id)![0];
  await cluster.kill(processId);
  await page.waitForURL(`${standby}/console/`, { timeout: 30_000 });
  await page.locator('#active-master .value', { hasText: next!.id }).waitFor({ timeout: 15_000 });
  t.is((await cli<ClusterStatus>('status')).master.id, next!.id);
  await shoot(page, 'cluster-after-failover');
  // The feed's reconnects to the killed master fail, as they should, and say so in the console.
  browser.errors.splice(errorsBefore);
  await page.close();
});

test.after('no page had a script or console error', (t) => {
  // The one console error expected: the page that asked for a missing file logs the 404 it got.
  t.deepEqual(browser.errors.filter((e) => !e.includes('/console/file?path=/no/such/file')), []);
});
