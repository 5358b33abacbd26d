import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium package (scripts/setup.sh installs it); playwright-core only drives it, it downloads no browser. */
const CHROMIUM = '/usr/bin/chromium';
/**
 * Headless, and quiet: without the background-networking, component-update
 * and sync switches Chromium reaches out to the internet on its own, which
 * is closed here (and a test must not depend on it anyway).
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where a test's screenshots go: test-output/<name>/ in the repository (git-ignored). */
export function screenshotDir(name: string): string {
  return fileURLToPath(new URL(`../../../test-output/${name}/`, import.meta.url));
}

/**
 * A real headless Chromium with a fresh profile of its own, removed on
 * close. It records every script error and console error of its pages, so
 * a test can insist there were none.
 */
export class HeadlessChromium {
  readonly errors: string[] = [];

  private constructor(
    private readonly context: BrowserContext,
    private readonly profile: string,
  ) {}

  static async launch(): Promise<HeadlessChromium> {
    const profile = await mkdtemp(join(tmpdir(), 'ofs-chromium-'));
    try {
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1280, height: 860 },
      });
      return new HeadlessChromium(context, profile);
    } catch (err) {
      await rm(profile, { recursive: true, force: true });
      throw err;
    }
  }

  async page(): Promise<Page> {
    const page = await this.context.newPage();
    page.on('pageerror', (err) => this.errors.push(`${page.url()}: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') this.errors.push(`${page.url()}: ${message.text()}`);
    });
    return page;
  }

  /** Saves a full-page screenshot as DIR/NAME.png; returns its path. */
  static async screenshot(page: Page, dir: string, name: string): Promise<string> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    return path;
  }

  async close(): Promise<void> {
    try {
      await this.context.close();
    } finally {
      await rm(this.profile, { recursive: true, force: true });
    }
  }
}
