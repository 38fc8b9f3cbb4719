import { ZkError } from '../errors.js';
import { ErrorCode } from '../protocol/constants.js';

/** Human text per code, as the Java client's KeeperException messages put it. */
const descriptions = new Map<number, string>([
  [ErrorCode.SYSTEMERROR, 'System error'],
  [ErrorCode.RUNTIMEINCONSISTENCY, 'Runtime inconsistency'],
  [ErrorCode.DATAINCONSISTENCY, 'Data inconsistency'],
  [ErrorCode.CONNECTIONLOSS, 'Connection loss'],
  [ErrorCode.MARSHALLINGERROR, 'Marshalling error'],
  [ErrorCode.UNIMPLEMENTED, 'Unimplemented'],
  [ErrorCode.OPERATIONTIMEOUT, 'Operation timeout'],
  [ErrorCode.BADARGUMENTS, 'Bad arguments'],
  [ErrorCode.UNKNOWNSESSION, 'Unknown session'],
  [ErrorCode.NEWCONFIGNOQUORUM, 'No quorum of new config is connected'],
  [ErrorCode.RECONFIGINPROGRESS, 'Another reconfiguration is in progress'],
  [ErrorCode.APIERROR, 'API error'],
  [ErrorCode.NONODE, 'Node does not exist'],
  [ErrorCode.NOAUTH, 'Insufficient permission'],
  [ErrorCode.BADVERSION, 'version No is not valid'],
  [ErrorCode.NOCHILDRENFOREPHEMERALS, 'Ephemerals cannot have children'],
  [ErrorCode.NODEEXISTS, 'Node already exists'],
  [ErrorCode.NOTEMPTY, 'Node not empty'],
  [ErrorCode.SESSIONEXPIRED, 'Session expired'],
  [ErrorCode.INVALIDCALLBACK, 'Invalid callback'],
  [ErrorCode.INVALIDACL, 'Acl is not valid'],
  [ErrorCode.AUTHFAILED, 'Authentication is not valid'],
  [ErrorCode.SESSIONMOVED, 'Session moved'],
  [ErrorCode.NOTREADONLY, 'Not a read-only call'],
  [ErrorCode.EPHEMERALONLOCALSESSION, 'Ephemeral node on local session'],
  [ErrorCode.NOWATCHER, 'No such watcher'],
  [ErrorCode.REQUESTTIMEOUT, 'Request timeout'],
  [ErrorCode.RECONFIGDISABLED, 'Reconfig is disabled'],
  [ErrorCode.SESSIONCLOSEDREQUIRESASLAUTH, 'Session closed because client failed to authenticate'],
  [ErrorCode.QUOTAEXCEEDED, 'Quota has exceeded'],
  [ErrorCode.THROTTLEDOP, 'Op throttled due to high load'],
]);

export function describeCode(code: number): string {
  return descriptions.get(code) ?? `Error ${code}`;
}

/**
 * What every client call rejects with: a ZkError (so `err.code` / `err.codeName` hold the
 * ZooKeeper code) that also names the path the call was about, when there is one.
 * The message reads like zkCli's: "Node does not exist: /a".
 */
export class ZooKeeperError extends ZkError {
  readonly path: string | undefined;
  constructor(code: number, path?: string, detail?: string) {
    const text = detail ?? describeCode(code);
    super(code, path === undefined ? text : `${text}: ${path}`);
    this.name = 'ZooKeeperError';
    this.path = path;
  }
}

export function zkError(code: number, path?: string, detail?: string): ZooKeeperError {
  return new ZooKeeperError(code, path, detail);
}

/** One op's outcome in a failed multi: 0 for the ops before the failing one, -2 after it. */
export interface MultiOpError {
  op: string;
  path: string;
  code: number;
  codeName: string;
}

/** A multi that failed as a whole: `code` is the failing op's, `results` has every op's code. */
export class MultiError extends ZooKeeperError {
  readonly index: number;
  readonly results: MultiOpError[];
  constructor(code: number, path: string, index: number, results: MultiOpError[]) {
    super(code, path, `${describeCode(code)} (multi op #${index})`);
    this.name = 'MultiError';
    this.index = index;
    this.results = results;
  }
}
