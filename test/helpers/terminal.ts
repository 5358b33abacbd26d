import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './cluster.js';

const run = promisify(execFile);

/**
 * A real terminal: a detached tmux session on a tmux server of its own (so a
 * person's tmux is never touched), running one shell command. What a user
 * would see is `screen()`, the pane's text.
 */
export class Terminal {
  private constructor(
    private readonly dir: string,
    private readonly socket: string,
  ) {}

  /** Runs `command` (a shell command line) in a pane WIDTH columns wide. */
  static async start(command: string, options: { width?: number; env?: Record<string, string> } = {}): Promise<Terminal> {
    // The server's socket in a directory of our own: tmux leaves it behind when its server is killed.
    const dir = await mkdtemp(join(tmpdir(), 'ofs-tmux-'));
    const socket = join(dir, 'socket');
    const env = Object.entries(options.env ?? {}).flatMap(([name, value]) => ['-e', `${name}=${value}`]);
    // The shell stays after the command ends, so its last screen can still be read.
    await run('tmux', ['-S', socket, 'new-session', '-d', '-x', String(options.width ?? 120), '-y', '10', ...env, `${command}; echo "exit code $?"; sleep 600`]);
    return new Terminal(dir, socket);
  }

  async screen(): Promise<string> {
    return (await run('tmux', ['-S', this.socket, 'capture-pane', '-p'])).stdout;
  }

  /** The screen once it matches `pattern`. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    return waitFor(`the terminal to show ${pattern}`, async () => {
      const text = await this.screen();
      if (!pattern.test(text)) throw new Error(`it shows:\n${text.trimEnd()}`); // the timeout's message
      return text;
    }, timeoutMs);
  }

  async close(): Promise<void> {
    await run('tmux', ['-S', this.socket, 'kill-server']).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
