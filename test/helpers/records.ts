import { crc32c } from '@node-rs/crc32';

/**
 * Self-describing append records, as GFS applications write them (3.3): a
 * reader finds them among padding and the debris of failed attempts by the
 * magic and the checksum. Layout: MAGIC | writer u16 | seq u32 | length u32 |
 * payload | crc32c(everything before) u32.
 */
const MAGIC = Buffer.from('OFSR');
const HEADER = MAGIC.length + 2 + 4 + 4;

export function encodeRecord(writer: number, seq: number, payload: Buffer): Buffer {
  const record = Buffer.alloc(HEADER + payload.length + 4);
  MAGIC.copy(record, 0);
  record.writeUInt16BE(writer, 4);
  record.writeUInt32BE(seq, 6);
  record.writeUInt32BE(payload.length, 10);
  payload.copy(record, HEADER);
  record.writeUInt32BE(crc32c(record.subarray(0, HEADER + payload.length)), HEADER + payload.length);
  return record;
}

export interface FoundRecord {
  writer: number;
  seq: number;
  offset: number;
  length: number;
}

/** The whole, valid record at `offset`, or undefined. */
export function decodeRecordAt(data: Buffer, offset: number): FoundRecord | undefined {
  if (offset + HEADER + 4 > data.length || !data.subarray(offset, offset + 4).equals(MAGIC)) return undefined;
  const length = data.readUInt32BE(offset + 10);
  const end = offset + HEADER + length;
  if (end + 4 > data.length) return undefined;
  if (crc32c(data.subarray(offset, end)) !== data.readUInt32BE(end)) return undefined;
  return { writer: data.readUInt16BE(offset + 4), seq: data.readUInt32BE(offset + 6), offset, length: end + 4 - offset };
}

/** Every valid record in a file's bytes, skipping padding and torn debris. */
export function scanRecords(data: Buffer): FoundRecord[] {
  const found: FoundRecord[] = [];
  for (let at = data.indexOf(MAGIC); at >= 0; ) {
    const record = decodeRecordAt(data, at);
    if (record) found.push(record);
    at = data.indexOf(MAGIC, record ? at + record.length : at + 1);
  }
  return found;
}
