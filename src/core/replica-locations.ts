import { chunkNumber, formatChunkId } from './chunk-id.js';
import { NO_SERVER, ServerNumbers } from './server-numbers.js';

export interface Replica {
  serverId: string;
  version: number;
  length: number;
}

/** Chunk numbers per page: 256 rows of 3 slots take 7.5 KiB. */
const PAGE_CHUNKS = 256;

interface Page {
  /** Per slot: a server number, NO_SERVER for an empty slot. */
  servers: Uint16Array;
  versions: Uint32Array;
  lengths: Uint32Array;
  /** Rows with a filled slot: the page goes when none is left. */
  rows: number;
}

/**
 * Which chunkservers hold a replica of each chunk, at which version and
 * length: the master's largest soft state, one row per chunk. A Map of Maps
 * took ~330 bytes a chunk with 3 replicas, most of the master's memory goal
 * of 500 bytes a file (issue 11); these rows take ~32 (bench/cluster-view.ts).
 *
 * The master numbers its chunks from a counter (`formatChunkId`), so a
 * chunk's number picks its row: rows sit in pages of PAGE_CHUNKS numbers,
 * made when a first replica lands in them and dropped when their last one
 * goes, so reports may come in any order and a stray id (a replica the
 * master never allocated) costs one page, not an array up to its number. A
 * row has a fixed number of slots, each a server number (2 bytes), a version
 * and a length (4 bytes each).
 *
 * What a row cannot hold goes to a Map of lists, `spilled`: the replicas of a
 * chunk beyond its slots (a copy made before the surplus one is dropped), one
 * whose server, version or length does not fit its slot, and every replica
 * of an id that is no chunk number. A chunk's replicas, in the order they were
 * first recorded, are its row's filled slots (filled from the first) and then
 * its spilled list; a list only starts where the row could take no more.
 */
export class ReplicaLocations {
  private readonly pages = new Map<number, Page>();
  private readonly spilled = new Map<string, Replica[]>();
  private readonly numbers = new ServerNumbers();

  /** `slots` per chunk kept in its row; the master keeps as many as it wants replicas. */
  constructor(private readonly slots: number) {}

  /** The chunk's replicas in the order they were first recorded (a newer report from the same server keeps its place). */
  replicasOf(chunkId: string): Replica[] {
    const replicas: Replica[] = [];
    const n = chunkNumber(chunkId);
    const page = n === undefined ? undefined : this.pages.get(pageOf(n));
    if (page) {
      const first = rowOf(n!) * this.slots;
      for (let slot = first; slot < first + this.slots && page.servers[slot] !== NO_SERVER; slot++) {
        replicas.push({ serverId: this.numbers.idOf(page.servers[slot]!), version: page.versions[slot]!, length: page.lengths[slot]! });
      }
    }
    const spilled = this.spilled.get(chunkId);
    return spilled ? replicas.concat(spilled) : replicas;
  }

  /** A replica on `serverId` at `version`: replaces what that server had of the chunk, in its place. */
  record(chunkId: string, serverId: string, version: number, length: number): void {
    const replicas = this.replicasOf(chunkId);
    const at = replicas.findIndex((r) => r.serverId === serverId);
    if (at >= 0) replicas[at] = { serverId, version, length };
    else replicas.push({ serverId, version, length });
    this.store(chunkId, replicas);
  }

  forget(chunkId: string, serverId: string): void {
    const replicas = this.replicasOf(chunkId);
    const left = replicas.filter((r) => r.serverId !== serverId);
    if (left.length < replicas.length) this.store(chunkId, left);
  }

  /**
   * Forgets every replica on `serverId` but those of the chunks `keep`s: a
   * walk of every row (a few ms a million chunks), as a server leaving or
   * sending a full report is rare.
   */
  forgetServer(serverId: string, keep: (chunkId: string) => boolean = () => false): void {
    // Chunks with a spilled list first: a replica leaving their row makes room for one from the list.
    for (const chunkId of [...this.spilled.keys()]) if (!keep(chunkId)) this.forget(chunkId, serverId);
    const server = this.numbers.numberOf(serverId);
    if (server === NO_SERVER) return;
    // The rest hold all their replicas in their rows: closing the gap in place is all there is to do.
    for (const [p, page] of this.pages) {
      const { servers, versions, lengths } = page;
      for (let slot = 0; slot < servers.length; slot++) {
        if (servers[slot] !== server || keep(formatChunkId(p * PAGE_CHUNKS + Math.floor(slot / this.slots)))) continue;
        const end = slot - (slot % this.slots) + this.slots;
        servers.copyWithin(slot, slot + 1, end);
        versions.copyWithin(slot, slot + 1, end);
        lengths.copyWithin(slot, slot + 1, end);
        servers[end - 1] = NO_SERVER;
        if (servers[end - this.slots] === NO_SERVER) page.rows--;
        this.numbers.release(server);
      }
      if (page.rows === 0) this.pages.delete(p);
    }
  }

  /** The chunks with a replica on `serverId`, in no particular order. A walk of every row. */
  chunksOf(serverId: string): string[] {
    const chunkIds: string[] = [];
    const server = this.numbers.numberOf(serverId);
    if (server !== NO_SERVER) {
      for (const [p, { servers }] of this.pages) {
        for (let slot = 0; slot < servers.length; slot++) {
          if (servers[slot] === server) chunkIds.push(formatChunkId(p * PAGE_CHUNKS + Math.floor(slot / this.slots)));
        }
      }
    }
    for (const [chunkId, replicas] of this.spilled) if (replicas.some((r) => r.serverId === serverId)) chunkIds.push(chunkId);
    return chunkIds;
  }

  /** Rewrites the chunk's replicas: as many as fit into its row, from the first, and the rest spilled. */
  private store(chunkId: string, replicas: Replica[]): void {
    const n = chunkNumber(chunkId);
    let kept = 0;
    if (n !== undefined) {
      const p = pageOf(n);
      const page = this.pages.get(p) ?? this.newPage(p);
      const first = rowOf(n) * this.slots;
      const had = page.servers[first] !== NO_SERVER;
      for (let slot = first; slot < first + this.slots && page.servers[slot] !== NO_SERVER; slot++) this.numbers.release(page.servers[slot]!);
      page.servers.fill(NO_SERVER, first, first + this.slots);
      for (; kept < Math.min(this.slots, replicas.length); kept++) {
        const { serverId, version, length } = replicas[kept]!;
        if (!isU32(version) || !isU32(length)) break;
        const server = this.numbers.hold(serverId);
        if (server === NO_SERVER) break;
        page.servers[first + kept] = server;
        page.versions[first + kept] = version;
        page.lengths[first + kept] = length;
      }
      page.rows += Number(kept > 0) - Number(had);
      if (page.rows === 0) this.pages.delete(p);
    }
    if (kept < replicas.length) this.spilled.set(chunkId, replicas.slice(kept));
    else this.spilled.delete(chunkId);
  }

  private newPage(p: number): Page {
    const cells = PAGE_CHUNKS * this.slots;
    const buffer = new ArrayBuffer(cells * (2 + 4 + 4));
    const page = {
      versions: new Uint32Array(buffer, 0, cells),
      lengths: new Uint32Array(buffer, cells * 4, cells),
      servers: new Uint16Array(buffer, cells * 8, cells),
      rows: 0,
    };
    this.pages.set(p, page);
    return page;
  }
}

const pageOf = (n: number) => Math.floor(n / PAGE_CHUNKS);
const rowOf = (n: number) => n % PAGE_CHUNKS;
/** Whether `x` fits a Uint32Array cell exactly. */
const isU32 = (x: number) => x >>> 0 === x;
