import { z } from 'zod';
import { OfsError, isErrorCode, type ErrorCode } from '../core/errors.js';

/**
 * The one envelope: frame 0 is JSON `{ type, id, epoch, from, body, auth? }`, any
 * further frames are raw bytes. Replies reuse the request's id with type
 * `reply` or `error`.
 */
export interface Envelope {
  type: string;
  id: string;
  epoch: number;
  from: string;
  body: unknown;
  /** The sender's role token (security/role-token.ts), on requests to a secure server. */
  auth?: string;
}

const envelopeSchema = z.object({
  type: z.string().min(1).max(64),
  id: z.string().min(1).max(64),
  epoch: z.number().int().nonnegative(),
  from: z.string().max(256),
  body: z.unknown(),
  auth: z.string().max(256).optional(),
});

/** Frame 0 is JSON; a header above this is not one of ours. */
export const MAX_HEADER_BYTES = 1024 * 1024;

/**
 * The frames of one message. A header its receiver would drop as too big is
 * refused here instead, so the sender learns why (as an error reply, when it
 * is a reply) rather than its peer waiting for an answer that never comes.
 */
export function encodeEnvelope(envelope: Envelope, data: readonly Buffer[] = [], what: string = envelope.type): Buffer[] {
  const header = Buffer.from(JSON.stringify(envelope));
  if (header.length > MAX_HEADER_BYTES) {
    throw new OfsError('EINTERNAL', `${what}: a header of ${header.length} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit of one message`);
  }
  return [header, ...data];
}

export function decodeEnvelope(frames: readonly Buffer[]): { envelope: Envelope; data: Buffer[] } {
  const [header, ...data] = frames;
  if (!header || header.length === 0) throw new OfsError('EBADMSG', 'malformed message: no header frame');
  if (header.length > MAX_HEADER_BYTES) {
    throw new OfsError('EBADMSG', `malformed message: header of ${header.length} bytes exceeds ${MAX_HEADER_BYTES}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(header.toString('utf8'));
  } catch (err) {
    throw new OfsError('EBADMSG', `malformed message: header is not JSON (${(err as Error).message})`);
  }
  const result = envelopeSchema.safeParse(parsed);
  if (!result.success) {
    throw new OfsError('EBADMSG', `malformed envelope: ${z.prettifyError(result.error).replace(/\n/g, '; ')}`);
  }
  return { envelope: result.data as Envelope, data };
}

const errorBodySchema = z.object({ code: z.string(), message: z.string() });

export function errorBody(err: OfsError): { code: ErrorCode; message: string } {
  return { code: err.code, message: err.message };
}

export function errorFromBody(body: unknown, context: string): OfsError {
  const parsed = errorBodySchema.safeParse(body);
  if (!parsed.success) return new OfsError('EBADMSG', `${context}: malformed error reply`);
  const code = isErrorCode(parsed.data.code) ? parsed.data.code : 'EINTERNAL';
  return new OfsError(code, parsed.data.message);
}
