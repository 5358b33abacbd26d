import { OfsError } from '../core/errors.js';

/** The one data frame of a message that carries `length` bytes inline (EBADMSG otherwise). */
export function inlineBytes(data: Buffer[], length: number, type: string): Buffer {
  const bytes = singleFrame(data, type);
  if (bytes.length !== length) throw new OfsError('EBADMSG', `${type} names ${length} bytes but carries ${bytes.length}`);
  return bytes;
}

/** The one data frame of a message (EBADMSG for none or more). */
export function singleFrame(data: Buffer[], type: string): Buffer {
  if (data.length !== 1) throw new OfsError('EBADMSG', `${type} needs exactly one data frame, got ${data.length}`);
  return data[0]!;
}
