export {
  createClient,
  ZooKeeperClient,
  OPEN_ACL_UNSAFE,
  CREATOR_ALL_ACL,
  READ_ACL_UNSAFE,
  type ClientEvents,
} from './client.js';
export { ZooKeeperError, MultiError, describeCode, type MultiOpError } from './errors.js';
export { Transaction } from './multi.js';
export { parseConnectString, type HostPort, type ParsedConnectString } from './connect-string.js';
export { ZkError } from '../errors.js';
export { CreateMode, ErrorCode, Perms } from '../protocol/constants.js';
export type * from './types.js';
