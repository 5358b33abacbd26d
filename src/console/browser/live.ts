import type { ClusterSummary } from '../views.js';
import { getJson } from './dom.js';

interface MastersReply {
  self: string;
  serving: boolean;
  masters: { id: string; http?: string }[];
}

/** How often a page whose feed broke asks where the active master's console is now. */
const LOOKUP_MS = 2_000;

/**
 * Calls `onSummary` with each summary the active master pushes (every
 * second), and shows the feed's state in the header. While the feed is
 * broken (the master died or stepped down) the page asks its origin's master
 * every LOOKUP_MS which master is active now and, once that is another one,
 * opens the same page on its console. A killed master comes back on the
 * same port as a standby, and answers that question.
 */
export function followCluster(onSummary: (summary: ClusterSummary) => void): void {
  const badge = document.getElementById('feed')!;
  badge.textContent = 'connecting…';
  let lookups: number | undefined;
  const events = new EventSource('/api/events');
  events.addEventListener('summary', (event) => {
    const summary = JSON.parse((event as MessageEvent<string>).data) as ClusterSummary;
    badge.textContent = `live · master ${summary.status.master.id} · epoch ${summary.status.master.epoch}`;
    badge.className = 'feed';
    clearInterval(lookups);
    lookups = undefined;
    onSummary(summary);
  });
  const lost = (why: string) => {
    badge.textContent = `disconnected: ${why}`;
    badge.className = 'feed down';
    void findActiveConsole();
    lookups ??= window.setInterval(() => void findActiveConsole(), LOOKUP_MS);
  };
  events.addEventListener('unavailable', (event) => lost((JSON.parse((event as MessageEvent<string>).data) as { message: string }).message));
  events.addEventListener('error', () => lost('the master does not answer; retrying'));
}

async function findActiveConsole(): Promise<void> {
  const answer = await getJson<MastersReply>('/api/masters').catch(() => undefined);
  const active = answer?.masters[0];
  if (!answer || answer.serving || !active?.http || active.id === answer.self) return;
  const target = new URL(location.pathname + location.search, active.http);
  if (target.origin !== location.origin) location.assign(target.href);
}
