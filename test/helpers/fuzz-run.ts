import { readdir, readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { Dealer } from 'zeromq';
import { splitMessages } from '../../src/transport/batch.js';
import { decodeEnvelope } from '../../src/transport/envelope.js';
import type { WireIdentity } from '../../src/security/wire-identity.js';
import { fuzzMessage, oversizeMessage, type FuzzMessage } from './fuzz-frames.js';

/** What one server did with a run of bad messages. */
export interface FuzzFigures {
  /** ZeroMQ messages sent, and the frames in them. */
  messages: number;
  frames: number;
  /** Replies by outcome: `ok`, or the error code. */
  replies: Record<string, number>;
  /** Replies owed (one per readable envelope, one per unreadable message) and never received. */
  dropped: number;
  /** Frames above the size limit, each on a socket of its own, and how many of them got a reply instead of the peer being dropped. */
  oversize: { sent: number; answered: number };
  /** The slowest reply to a readable envelope, from its send. */
  slowestReplyMs: number;
  ms: number;
}

export interface FuzzOptions {
  seed: number;
  /** Frames to send at least: messages are sent until they carry this many. */
  frames: number;
  oversize: number;
  /** A reply later than this counts as a hang: the run stops waiting. */
  replyBoundMs: number;
  /** Replies owed at once at most: the fuzzer keeps the server busy without burying it. */
  window?: number;
  /** The CURVE options of a role's keys, for a secure server's socket. */
  curve?: CurveOptions;
  /** That role's token for the address, put in most headers (fuzz-frames.ts). */
  token?: string;
}

type CurveOptions = ReturnType<WireIdentity['clientOptions']>;

/** Messages are made this many at a time (seed + slice), so a long run never holds them all. */
const SLICE = 1000;

/**
 * Sends seeded bad messages, `frames` frames in all, to the server at `address` over one
 * DEALER, and counts what comes back. A reply to a readable envelope is
 * matched by id (each is unique); an unreadable message is answered under
 * the id `unknown`, and those are counted.
 */
export async function fuzzServer(address: string, options: FuzzOptions): Promise<FuzzFigures> {
  const started = performance.now();
  const socket = new Dealer({ linger: 0, ...options.curve });
  socket.connect(address);
  const prefix = `fz${options.seed.toString(36)}`;
  let lastId = 0;
  const nextId = () => `${prefix}-${++lastId}`;
  const figures: FuzzFigures = { messages: 0, frames: 0, replies: {}, dropped: 0, oversize: { sent: 0, answered: 0 }, slowestReplyMs: 0, ms: 0 };
  const sentAt = new Map<string, number>();
  let unknownOwed = 0;
  let progress: () => void = () => {};
  const owed = () => sentAt.size + unknownOwed;

  const receiving = (async () => {
    for await (const frames of socket) {
      for (const reply of splitMessages(frames)) {
        const { envelope } = decodeEnvelope(reply);
        const code = envelope.type === 'error' ? String((envelope.body as { code?: unknown }).code) : 'ok';
        figures.replies[code] = (figures.replies[code] ?? 0) + 1;
        const at = sentAt.get(envelope.id);
        if (at !== undefined) {
          sentAt.delete(envelope.id);
          figures.slowestReplyMs = Math.max(figures.slowestReplyMs, performance.now() - at);
        } else {
          unknownOwed--;
        }
      }
      progress();
    }
  })().catch(() => undefined); // ends when the socket closes

  /** Resolves once fewer than `limit` replies are owed; false if none came for the bound. */
  const drain = async (limit: number): Promise<boolean> => {
    while (owed() > limit) {
      const before = owed();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.replyBoundMs);
        progress = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (owed() === before) return false;
    }
    return true;
  };

  try {
    const oversized = options.oversize > 0 ? fc.sample(oversizeMessage, { seed: options.seed, numRuns: options.oversize }) : [];
    const oversizeEvery = options.frames / (oversized.length + 1);
    for (let slice = 0; figures.frames < options.frames; slice++) {
      for (const message of fc.sample(fuzzMessage(nextId, options.token), { seed: options.seed + slice, numRuns: SLICE })) {
        if (figures.frames >= options.frames) break;
        if (!(await drain(options.window ?? 256))) throw new Error(`no reply from ${address} for ${options.replyBoundMs} ms`);
        const readable = readableIds(message);
        for (const id of readable) sentAt.set(id, performance.now());
        unknownOwed += message.replies - readable.length;
        await socket.send(message.frames);
        figures.messages++;
        figures.frames += message.frames.length;
        if (figures.frames >= oversizeEvery * (figures.oversize.sent + 1) && oversized.length > 0) {
          figures.oversize.answered += (await sendAlone(address, oversized.pop()!, options.curve)) ? 1 : 0;
          figures.oversize.sent++;
        }
      }
    }
    await drain(0);
  } finally {
    figures.dropped = owed();
    socket.close();
    await receiving;
  }
  figures.ms = Math.round(performance.now() - started);
  figures.slowestReplyMs = Math.round(figures.slowestReplyMs);
  return figures;
}

/** Ids of the envelopes in `message` that a server can read, so will answer under their own id. */
function readableIds(message: FuzzMessage): string[] {
  try {
    return splitMessages(message.frames).flatMap((frames) => {
      try {
        return [decodeEnvelope(frames).envelope.id];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/** Sends one message on a socket of its own; true if it was answered, false once the server dropped the connection (or 5 s passed). */
async function sendAlone(address: string, message: FuzzMessage, curve: CurveOptions | undefined): Promise<boolean> {
  const socket = new Dealer({ linger: 0, receiveTimeout: 5000, ...curve });
  const dropped = new Promise<boolean>((resolve) => socket.events.on('disconnect', () => resolve(false)));
  socket.connect(address);
  try {
    await socket.send(message.frames);
    return await Promise.race([socket.receive().then(() => true), dropped]);
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

/** What a server did with a stream from a peer without the cluster's keys. */
export interface UnkeyedFigures {
  /** Messages offered, and their frames. */
  messages: number;
  frames: number;
  /** Messages handed to ZeroMQ, and those it would not even queue (no connection to queue them for). */
  queued: number;
  notQueued: number;
  replies: number;
  /** How the connection ended, as ZeroMQ's socket events named it (`handshake:error:protocol`, `disconnect`, …). */
  events: Record<string, number>;
}

/**
 * Offers seeded bad messages, `frames` frames in all, to a secure server from
 * a socket that has no key of the cluster's (`curve` undefined: plain
 * ZeroMQ) or an unknown one, without ever blocking, then listens for
 * `listenMs`: nothing may come back.
 */
export async function fuzzWithoutKeys(address: string, options: { seed: number; frames: number; curve?: CurveOptions; listenMs: number }): Promise<UnkeyedFigures> {
  const socket = new Dealer({ linger: 0, sendTimeout: 0, ...options.curve });
  const figures: UnkeyedFigures = { messages: 0, frames: 0, queued: 0, notQueued: 0, replies: 0, events: {} };
  const watching = (async () => {
    for await (const event of socket.events) figures.events[event.type] = (figures.events[event.type] ?? 0) + 1;
  })().catch(() => undefined);
  const receiving = (async () => {
    for await (const _ of socket) figures.replies++;
  })().catch(() => undefined);
  socket.connect(address);
  let lastId = 0;
  const nextId = () => `nokey-${++lastId}`;
  for (let slice = 0; figures.frames < options.frames; slice++) {
    for (const message of fc.sample(fuzzMessage(nextId), { seed: options.seed + slice, numRuns: SLICE })) {
      figures.messages++;
      figures.frames += message.frames.length;
      try {
        await socket.send(message.frames);
        figures.queued++;
      } catch {
        figures.notQueued++;
      }
    }
  }
  await new Promise((resolve) => setTimeout(resolve, options.listenMs));
  socket.close();
  await Promise.all([receiving, watching]);
  return figures;
}

/** A process's resident memory (VmRSS) in bytes, and its open file descriptors. */
export async function processUsage(pid: number): Promise<{ rss: number; fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return { rss: kb * 1024, fds: (await readdir(`/proc/${pid}/fd`)).length };
}
