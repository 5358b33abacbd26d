import { dispatch, type Ref } from 'nact';
import { OfsError } from '../core/errors.js';
import type { HandlerMap } from '../transport/rpc-server.js';
import type { Logger } from '../util/logger.js';

/**
 * How OFS actors recover from a crash inside a live process (nact
 * supervision), and the hook chaos tests use to cause one.
 *
 * - `resume` for actors whose state is the truth (the master's namespace, the
 *   standby's copy): the failed message is dropped, the state kept.
 * - `reset` for actors whose state is rebuilt or safe to lose (leases are
 *   fenced by versions, re-replication plans again, replica actors reload from
 *   disk): they start over from their initial state.
 */
export const INJECTED_CRASH = '__injected_crash__';

/** Fault injection is off unless the process was started with OFS_FAULT_INJECTION=1. */
export function faultInjectionEnabled(): boolean {
  return process.env.OFS_FAULT_INJECTION === '1';
}

/** Checks that fault injection is on and names the actor, or explains why not. */
export function requireFaultInjection(actor: string, known: boolean): void {
  if (!faultInjectionEnabled()) {
    throw new OfsError('EINVAL', 'fault injection is off: start the process with OFS_FAULT_INJECTION=1 to crash actors on purpose');
  }
  if (!known) throw new OfsError('ENOENT', `no actor named ${actor} here`);
}

/**
 * The fault-injection requests every role serves: `admin.blockEventLoop`
 * stops the main thread (Atomics.wait: no CPU burnt) while ZeroMQ's and
 * libuv's threads go on receiving and writing, the way a long synchronous
 * computation would. The ZooKeeper client pings only from the main thread,
 * so this is what tells whether a stall costs a process its session.
 */
export function faultInjectionHandlers(): HandlerMap {
  return {
    'admin.blockEventLoop': async ({ ms }) => {
      if (!faultInjectionEnabled()) throw new OfsError('EINVAL', 'fault injection is off: start the process with OFS_FAULT_INJECTION=1 to block its event loop');
      const started = Date.now();
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      return { body: { blockedMs: Date.now() - started } };
    },
  };
}

/** Sends an actor the message that makes `crashable` throw inside it. */
export function injectCrash(actor: Ref<unknown>): void {
  dispatch(actor, { kind: INJECTED_CRASH });
}

export function isInjectedCrash(msg: unknown): boolean {
  return typeof msg === 'object' && msg !== null && (msg as { kind?: unknown }).kind === INJECTED_CRASH;
}

/** Wraps an actor function so that an injected-crash message throws inside it, as a bug would. */
export function crashable<A extends unknown[], R>(name: string, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A) => {
    if (args.some(isInjectedCrash)) throw new Error(`injected crash of actor ${name}`);
    return fn(...args);
  };
}

/** The part of nact's supervision context these policies use (nact types its decisions as `Symbol`). */
type CrashContext = { resume: Symbol; reset: Symbol; name: string };

export function resumeOnCrash(log: Logger) {
  return (_msg: unknown, err: Error | undefined, ctx: CrashContext): Symbol => {
    log.error({ actor: ctx.name, err: err?.message }, 'actor crashed: resumed with its state, the message dropped');
    return ctx.resume;
  };
}

export function resetOnCrash(log: Logger) {
  return (_msg: unknown, err: Error | undefined, ctx: CrashContext): Symbol => {
    log.error({ actor: ctx.name, err: err?.message }, 'actor crashed: restarted from its initial state');
    return ctx.reset;
  };
}
