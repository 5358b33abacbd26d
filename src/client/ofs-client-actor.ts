import { dispatch, spawn, type Ref } from 'nact';
import { settle, type Result } from '../util/result.js';
import { OfsClient, type ConnectOptions, type DirectoryEntry, type FileStat } from './ofs-client.js';

type Bytes = Buffer | Uint8Array | string;

/**
 * What the actor client answers: one message per OfsClient call, each naming
 * where its reply goes. The reply is a Result: `{ ok: true, value }`, or
 * `{ ok: false, code, message }` with the OfsError's code (`unwrap` turns it
 * back into a thrown OfsError).
 */
export type OfsClientMessage =
  | { kind: 'write'; path: string; data: Bytes; overwrite?: boolean; offset?: number; sender: Ref<Result<void>> }
  | { kind: 'read'; path: string; offset?: number; length?: number; sender: Ref<Result<Buffer>> }
  | { kind: 'append'; path: string; data: Bytes; sender: Ref<Result<number>> }
  | { kind: 'list'; path: string; after?: string; limit?: number; sender: Ref<Result<DirectoryEntry[]>> }
  | { kind: 'stat'; path: string; sender: Ref<Result<FileStat>> }
  | { kind: 'delete'; path: string; recursive?: boolean; sender: Ref<Result<void>> }
  | { kind: 'rename'; from: string; to: string; sender: Ref<Result<void>> };

/**
 * The messages, made for nact's `query`, which types its answer by the
 * sender the factory takes: `await query(ofs, ofsQuery.read('/a'), 30_000)`
 * is a `Result<Buffer>`. (nact's Ref does not carry its type, so a message
 * written out by hand would type its answer `any`.)
 */
export const ofsQuery = {
  write: (path: string, data: Bytes, options: { overwrite?: boolean; offset?: number } = {}) =>
    (sender: Ref<Result<void>>): OfsClientMessage => ({ kind: 'write', path, data, ...options, sender }),
  read: (path: string, range: { offset?: number; length?: number } = {}) =>
    (sender: Ref<Result<Buffer>>): OfsClientMessage => ({ kind: 'read', path, ...range, sender }),
  append: (path: string, data: Bytes) => (sender: Ref<Result<number>>): OfsClientMessage => ({ kind: 'append', path, data, sender }),
  list: (path: string, page: { after?: string; limit?: number } = {}) =>
    (sender: Ref<Result<DirectoryEntry[]>>): OfsClientMessage => ({ kind: 'list', path, ...page, sender }),
  stat: (path: string) => (sender: Ref<Result<FileStat>>): OfsClientMessage => ({ kind: 'stat', path, sender }),
  delete: (path: string, options: { recursive?: boolean } = {}) =>
    (sender: Ref<Result<void>>): OfsClientMessage => ({ kind: 'delete', path, ...options, sender }),
  rename: (from: string, to: string) => (sender: Ref<Result<void>>): OfsClientMessage => ({ kind: 'rename', from, to, sender }),
};

/** The OfsClient call a message asks for. */
function call(client: OfsClient, msg: OfsClientMessage): Promise<unknown> {
  switch (msg.kind) {
    case 'write':
      return client.write(msg.path, msg.data, { overwrite: msg.overwrite, offset: msg.offset });
    case 'read':
      return client.read(msg.path, { offset: msg.offset, length: msg.length });
    case 'append':
      return client.append(msg.path, msg.data);
    case 'list':
      return client.list(msg.path, { after: msg.after, limit: msg.limit });
    case 'stat':
      return client.stat(msg.path);
    case 'delete':
      return client.delete(msg.path, { recursive: msg.recursive });
    case 'rename':
      return client.rename(msg.from, msg.to);
  }
}

/**
 * OFS for an application built on nact: an actor that owns an OfsClient and
 * answers each message with the Result of the matching call. Calls run side
 * by side, as calls of one OfsClient do (appends in flight together share
 * batches); to order two, wait for the first one's reply. The client connects
 * at the first message, and again at the next one if that failed. Stopping
 * this actor closes it (nact 7 stops a system's or a parent's children
 * without running their afterStop, so the actor itself must be stopped).
 */
export function spawnOfsClient(parent: Ref<unknown>, options: ConnectOptions, name?: string): Ref<OfsClientMessage> {
  let connecting: Promise<OfsClient> | undefined;
  const connect = () =>
    (connecting ??= OfsClient.connect(options).catch((err: unknown) => {
      connecting = undefined;
      throw err;
    }));
  return spawn(
    parent,
    (state: null, msg: OfsClientMessage): null => {
      // Not awaited: the next message need not wait for this call.
      void settle(connect().then((client) => call(client, msg))).then((reply) => dispatch(msg.sender as Ref<Result<unknown>>, reply));
      return state;
    },
    name,
    {
      initialState: null,
      afterStop: async () => {
        const client = await connecting?.catch(() => undefined);
        await client?.close();
      },
    },
  );
}
