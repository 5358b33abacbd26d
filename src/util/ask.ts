import { query, type Ref } from 'nact';
import { unwrap, type Result } from './result.js';

/**
 * How long an ask waits for an actor of this process. Actors answer from
 * memory or after a local fsync, so running out means a crashed or stuck
 * actor, not a slow network.
 */
export const ASK_TIMEOUT_MS = 30_000;

/**
 * Asks an actor: `ask(actor)(make)`, where `make` wraps a temporary sender
 * into the message; resolves with the answer sent to it, typed by that sender.
 * Curried so that the message type is fixed by the actor before `make` is
 * checked against it (one call infers it from both, and loses the literal `kind`).
 */
export function ask<Msg>(actor: Ref<Msg>, timeoutMs = ASK_TIMEOUT_MS) {
  return <Reply>(make: (sender: Ref<Reply>) => Msg): Promise<Reply> => query(actor, make, timeoutMs);
}

/** `ask` of an actor that answers with a Result: resolves with its value, or throws the OfsError it carried. */
export function askResult<Msg>(actor: Ref<Msg>, timeoutMs = ASK_TIMEOUT_MS) {
  return async <T>(make: (sender: Ref<Result<T>>) => Msg): Promise<T> => unwrap(await ask(actor, timeoutMs)(make));
}
