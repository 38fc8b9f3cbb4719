// zkts as a library: the client first (what applications import), then the server pieces
// for tools and tests that embed a server: a node assembled as a standalone server or as an
// ensemble member, and the storage it recovers from.
export * from './client/index.js';
export { ServerNode, type ServerNodeOptions } from './server/node.js';
export { standaloneNode, ensembleMember, type StandaloneNodeOptions, type EnsembleMemberOptions } from './server/assemble.js';
export { volatileSink, type TxnSink, type SinkListener, type FatalHandler } from './server/committer.js';
export { LogSink, Snapshotter, memberStorage, recoverStandalone, recoverEnsemble, type MemberStorage, type EnsembleRecovery } from './server/persistence.js';
export { loadConfigFile, buildConfig, parseProperties, type ServerConfig } from './config/config.js';
export { ConfigError, StorageError, ProtocolError, StartupError } from './errors.js';
