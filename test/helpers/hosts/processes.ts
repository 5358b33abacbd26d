import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Host } from './network.js';

/*
 * Processes on a host: `ip netns exec NS setpriv --pdeathsig TERM -- ...`,
 * stdout and stderr appended to a log file. `ip netns exec` execs the
 * command, so the pid is the command's own; setpriv makes it die with the
 * test process even if that is killed outright.
 */

export interface StartOptions {
  /** Started again after it exits (as systemd's Restart=always would), until stopped. */
  restart?: boolean;
  /** Its stdin, a pipe kept open: the workload runner stops when it closes. */
  stdin?: boolean;
  env?: NodeJS.ProcessEnv;
}

const RESTART_DELAY_MS = 500;

export class HostProcess {
  private child!: ChildProcess;
  private stopped = false;
  /** Exits so far (restarts included), with their codes: what a test reads to see a role gave up. */
  readonly exits: { at: number; code: number | null; signal: NodeJS.Signals | null }[] = [];
  private exitWaiters: (() => void)[] = [];

  constructor(
    readonly host: Host,
    readonly name: string,
    private readonly command: string[],
    readonly logFile: string,
    private readonly options: StartOptions = {},
  ) {
    this.spawn();
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get stdin(): NodeJS.WritableStream | null {
    return this.child.stdin;
  }

  /** The log so far (every run of the process). */
  log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** Resolves at the process's next exit (at once if it has exited and will not restart). */
  exited(): Promise<void> {
    if (!this.running && (this.stopped || !this.options.restart)) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; no restart after. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    this.stopped = true;
    if (!this.running) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  private spawn(): void {
    const log = openSync(this.logFile, 'a');
    try {
      this.child = spawn('ip', ['netns', 'exec', this.host.ns, 'setpriv', '--pdeathsig', 'TERM', '--', ...this.command], {
        stdio: [this.options.stdin ? 'pipe' : 'ignore', log, log],
        env: { ...process.env, ...this.options.env },
      });
    } finally {
      closeSync(log); // the child holds its own copy
    }
    const child = this.child;
    child.once('exit', (code, signal) => {
      this.exits.push({ at: Date.now(), code, signal });
      const waiters = this.exitWaiters;
      this.exitWaiters = [];
      for (const wake of waiters) wake();
      if (this.options.restart && !this.stopped && child === this.child) {
        setTimeout(() => {
          if (!this.stopped) this.spawn();
        }, RESTART_DELAY_MS).unref();
      }
    });
  }
}
