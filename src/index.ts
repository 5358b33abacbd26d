/**
 * The package entry (`import { OfsClient } from 'ofs'`): the client, its
 * actor form for nact applications, the error they throw and their types.
 */
export { OfsClient, type ConnectOptions, type DirectoryEntry, type FileStat, type ClusterStatus, type FsckReport } from './client/ofs-client.js';
export { spawnOfsClient, ofsQuery, type OfsClientMessage } from './client/ofs-client-actor.js';
export { OfsError, ERROR_CODES, type ErrorCode } from './core/errors.js';
export { unwrap, type Result, type Failure } from './util/result.js';
