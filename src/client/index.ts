// zkts's TypeScript ZooKeeper client. Start with createClient(connectString, options), then
// connect(); every operation returns a promise and fails with a ZooKeeperError (a ZkError:
// err.code is the ZooKeeper code, err.codeName its name). The `zkts shell` logic lives in
// ./shell/index.js (runShell) so that library users do not load readline.
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
