// zkts as a library: the client first (what applications import), then the server pieces
// for tools and tests that embed a server.
export * from './client/index.js';
export { ZkServer, type ZkServerOptions } from './server/zk-server.js';
export { EnsembleServer } from './server/ensemble-server.js';
export { loadConfigFile, buildConfig, parseProperties, type ServerConfig } from './config/config.js';
export { ConfigError, StorageError, ProtocolError } from './errors.js';
