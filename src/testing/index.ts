// zkts/testing: real zkts servers for an application's own tests, whatever its test runner.
export { TestingCluster, type LinkSelector, type StartTiming, type TestingClusterOptions, type WaitOptions as ClusterWaitOptions } from './cluster.js';
export { TestingServer, type TestingServerOptions } from './server.js';
export type { MemberRole, MemberStatus, ServerInfo } from './member.js';
export type { MemberState, MemberExit } from './member-process.js';
export { MemberStartError } from './member-process.js';
export { expireSession, parseSessionId, type SessionIdLike } from './kill-session.js';
export { TcpProxy, type Direction, type TcpProxyOptions, type Toxics } from '../faults/index.js';
export type { LinkEnd, PeerFaultRule } from '../faults/index.js';
export { scaled, timeFactor, waitFor, withDeadline, type WaitOptions } from './wait.js';
