import { z } from 'zod';
import { OfsError } from '../core/errors.js';

/**
 * Several envelopes in one ZeroMQ message. Each send and receive costs about
 * 20 µs of CPU here (the socket's I/O thread woken, a syscall each way),
 * several times what a small request costs to decode and answer; so calls
 * and replies that wait for the socket at the same moment go together.
 *
 * A message of one envelope is sent as it is (frame 0 its JSON header, a
 * JSON object). A batch starts with a frame holding a JSON array: how many
 * frames each envelope has, in order, its header included; the envelopes'
 * frames follow. The first byte tells the two apart.
 */

/**
 * Envelopes in one batch at most: bounds the work one message can ask of a
 * receiver (as many handlers as that many messages would start; a server
 * takes up to its receive high-water mark of messages at once).
 */
export const MAX_BATCH = 256;
/** Frames of one envelope at most, alone or in a batch: its header and its data frames (a message has two). */
export const MAX_FRAMES_PER_ENVELOPE = 64;

const frameCountsSchema = z.array(z.number().int().min(1).max(MAX_FRAMES_PER_ENVELOPE)).min(2).max(MAX_BATCH);

/** `[`: a batch's frame counts; an envelope's header is a JSON object. */
const BATCH_MARK = 0x5b;

/** One message carrying `messages` (each an envelope's frames), in order. */
export function joinMessages(messages: readonly Buffer[][]): Buffer[] {
  if (messages.length === 1) return messages[0]!;
  return [Buffer.from(JSON.stringify(messages.map((m) => m.length))), ...messages.flat()];
}

/** The envelopes' frames a message carries: itself, or the members of a batch. Throws EBADMSG on a malformed batch or one of too many frames. */
export function splitMessages(frames: Buffer[]): Buffer[][] {
  const [first, ...rest] = frames;
  if (first?.[0] !== BATCH_MARK) {
    if (frames.length > MAX_FRAMES_PER_ENVELOPE) throw new OfsError('EBADMSG', `malformed message: ${frames.length} frames, over ${MAX_FRAMES_PER_ENVELOPE}`);
    return [frames];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(first.toString('utf8'));
  } catch (err) {
    throw new OfsError('EBADMSG', `malformed batch: its frame counts are not JSON (${(err as Error).message})`);
  }
  const counts = frameCountsSchema.safeParse(parsed);
  if (!counts.success) {
    throw new OfsError('EBADMSG', `malformed batch: frame counts must be 2 to ${MAX_BATCH} integers from 1 to ${MAX_FRAMES_PER_ENVELOPE}`);
  }
  const total = counts.data.reduce((sum, n) => sum + n, 0);
  if (total !== rest.length) throw new OfsError('EBADMSG', `malformed batch: its counts add up to ${total} frames, but ${rest.length} follow`);
  const messages: Buffer[][] = [];
  let at = 0;
  for (const n of counts.data) {
    messages.push(rest.slice(at, at + n));
    at += n;
  }
  return messages;
}
