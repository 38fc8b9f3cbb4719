// The one fault model: client-side toxics through a TCP proxy, and peer faults applied inside
// each member's peer transport. Used by zkts/testing (and the cluster CLI); decides nothing itself.
export { TcpProxy, proxyBufferBytesDefault, type TcpProxyOptions } from './tcp-proxy.js';
export { type Direction, type StreamToxics, type Toxics } from './toxics.js';
export {
  PeerFaults,
  heldMessagesMax,
  isolationRules,
  partitionRules,
  validatePeerFaultRules,
  type LinkEnd,
  type PeerFaultRule,
} from './peer-faults.js';
