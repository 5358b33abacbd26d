export { BLOCK_SIZE, ChunkStore, DEFAULT_MAX_CHUNK_SIZE, type ChunkInfo, type ChunkStoreOptions } from './chunk-store.js';
export { isChunkId } from './chunk-id.js';
