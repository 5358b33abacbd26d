import { InvalidArgumentError } from 'commander';
import { MAX_REPLICATION } from '../transport/protocol.js';
import { checkName, parseMode as parseModeText } from '../core/permissions.js';
import type { EnsembleMember } from '../cluster/zookeeper-server.js';

/** Commander parsers that reject bad values with a message naming the option's expectation. */
export function parseByteCount(value: string): number {
  const match = /^(\d+)([kmgt]i?b?)?$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`expected a byte count such as 1048576, 64MiB or 1G, got ${JSON.stringify(value)}`);
  const units: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
  const unit = match[2] ? units[match[2][0]!.toLowerCase()]! : 1;
  const bytes = Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new InvalidArgumentError(`byte count ${value} is out of range`);
  return bytes;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

export function parseReplication(value: string): number {
  const n = parsePositiveInt(value);
  if (n > MAX_REPLICATION) throw new InvalidArgumentError(`replicas per chunk: at most ${MAX_REPLICATION}, got ${n}`);
  return n;
}

export function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got ${JSON.stringify(value)}`);
  return n;
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port 0-65535, got ${JSON.stringify(value)}`);
  return n;
}

/** chmod's MODE and -m: octal (core/permissions.ts parseMode). */
export function parseMode(value: string): number {
  try {
    return parseModeText(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** chown's `OWNER`, `OWNER:GROUP` or `:GROUP`. */
export function parseOwnerGroup(value: string): { owner?: string; group?: string } {
  const [owner, group, ...rest] = value.split(':');
  try {
    if (rest.length > 0 || (!owner && !group)) throw new Error(`expected OWNER, OWNER:GROUP or :GROUP, got ${JSON.stringify(value)}`);
    return { ...(owner ? { owner: checkName('user', owner) } : {}), ...(group ? { group: checkName('group', group) } : {}) };
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function parseZkAddress(value: string): string {
  if (!/^[^\s:,]+:\d+(,[^\s:,]+:\d+)*$/.test(value)) {
    throw new InvalidArgumentError(`expected HOST:PORT[,HOST:PORT...], got ${JSON.stringify(value)}`);
  }
  return value;
}

/** `HOST:PEERPORT:ELECTIONPORT,...`: a ZooKeeper ensemble's servers, server.1 first. */
export function parseEnsemble(value: string): EnsembleMember[] {
  return value.split(',').map((server) => {
    const match = /^([^\s:,]+):(\d+):(\d+)$/.exec(server);
    const ports = match ? [Number(match[2]), Number(match[3])] : [];
    if (!match || ports.some((p) => p < 1 || p > 65535)) {
      throw new InvalidArgumentError(`expected HOST:PEERPORT:ELECTIONPORT[,...], got ${JSON.stringify(server)}`);
    }
    return { host: match[1]!, peerPort: ports[0]!, electionPort: ports[1]! };
  });
}

export function parseLeaseMs(value: string): number {
  const n = parsePositiveInt(value);
  if (n < 1000) throw new InvalidArgumentError(`a lease must last at least 1000 ms, got ${n}`);
  return n;
}

/** Whole 64 KiB blocks (the checksum unit), up to what a chunkserver accepts. */
export function parseChunkSize(value: string): number {
  const n = parseByteCount(value);
  if (n % 65536 !== 0 || n > 2 ** 30) throw new InvalidArgumentError(`a chunk size is a multiple of 64 KiB up to 1 GiB, got ${n}`);
  return n;
}

export function parsePercent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError(`expected a percentage 0-100, got ${JSON.stringify(value)}`);
  return n;
}
