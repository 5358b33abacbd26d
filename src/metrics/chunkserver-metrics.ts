import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ChunkStoreMetrics } from '../storage/chunk-store.js';

/** A chunk sync is two fdatasyncs (data, then meta): from a fraction of a millisecond to a loaded disk's second. */
const SYNC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The counters of a chunkserver's chunk store. */
export function chunkStoreMetrics(registry: Registry): ChunkStoreMetrics {
  const registers = [registry];
  const written = new Counter({ name: 'ofs_chunk_written_bytes_total', help: 'Bytes written into chunk files (mutations, padding, copies)', registers });
  const read = new Counter({ name: 'ofs_chunk_read_bytes_total', help: 'Bytes read out of chunk files, checked (client reads, copies to other chunkservers)', registers });
  const syncs = new Histogram({ name: 'ofs_chunk_sync_seconds', help: 'One chunk sync: data fdatasync, then meta write and fdatasync (a group commit)', buckets: SYNC_BUCKETS, registers });
  const corrupt = new Counter({
    name: 'ofs_crc_failures_total',
    help: 'Chunk blocks that failed their CRC32C or could not be read, found by a read or by the scrubber (verify)',
    labelNames: ['check'],
    registers,
  });
  return {
    written: (bytes) => written.inc(bytes),
    read: (bytes) => read.inc(bytes),
    synced: (seconds) => syncs.observe(seconds),
    corrupt: (check, blocks) => corrupt.inc({ check }, blocks),
  };
}

/** What a chunkserver's gauges read when scraped. */
export interface ChunkserverGaugeSources {
  chunks(): number;
  usedBytes(): number;
  pushBufferBytes(): number;
}

/** Gauges read at scrape time from the chunkserver's state. */
export function chunkserverGauges(registry: Registry, sources: ChunkserverGaugeSources): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  gauge('ofs_chunkserver_chunks', 'Chunks stored on this chunkserver', sources.chunks);
  gauge('ofs_chunkserver_used_bytes', 'Bytes of chunk data stored on this chunkserver', sources.usedBytes);
  gauge('ofs_push_buffer_bytes', 'Bytes pushed ahead of mutations, held in memory until committed', sources.pushBufferBytes);
}
