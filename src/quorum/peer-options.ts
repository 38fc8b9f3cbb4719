// The peer transport's named limits, and the options and hooks it is built from.
import type { Logger } from '../logger.js';
import type { PeerMessage } from './messages.js';

/** The smallest peer frame limit: a few MiB. A SNAP travels in chunks, so only one txn must fit. */
export const peerFrameBytesMin = 4 * 1024 * 1024;
/** Room in a frame for a message's own fields around its txn or SNAP chunk. */
export const peerFrameOverheadBytes = 64 * 1024;
/** No jute.maxbuffer may ask for peer frames larger than this. */
export const peerFrameBytesCeiling = 256 * 1024 * 1024;
/** jute.maxbuffer when the caller does not say (ZooKeeper's default). */
export const juteMaxBufferDefault = 0xfffff;
/** Messages held for a peer that is not connected; beyond this the backlog is dropped. */
export const peerBacklogMessagesMax = 50_000;
/** Redial delays for a peer we are responsible for dialling. */
export const redialDelayMsMin = 50;
export const redialDelayMsMax = 2000;
/** A connection that has not finished its handshake (TLS included) within this time is dropped. */
export const helloTimeoutMs = 5000;
/** Connections still in their handshake; more are turned away at once. */
export const peerHandshakesMax = 64;

/**
 * The peer frame limit for a jute.maxbuffer: a txn is at most a client packet's bytes re-encoded,
 * which ZooKeeper bounds by twice jute.maxbuffer (its maxbuffer + extrasize); the overhead covers
 * the message around it.
 */
export function peerFrameBytesFor(juteMaxBuffer: number): number {
  return Math.max(peerFrameBytesMin, 2 * juteMaxBuffer + peerFrameOverheadBytes);
}

export interface PeerAddress {
  sid: number;
  host: string;
  port: number;
}

/** Mutual TLS on the peer port: PEM texts, as the config loaded them. */
export interface PeerTlsOptions {
  readonly key: string;
  readonly cert: string;
  readonly ca: readonly string[];
  /** Whether a peer's certificate must name its server.N host. */
  readonly hostnameVerification: boolean;
}

/**
 * Where failure tests plug in (src/faults implements it): a hook consulted for every message in
 * either direction. allow() returning false drops the message (and, to keep FIFO honest, the
 * connection). hold(), for a received message that allow() let through, may take it and hand
 * it over later by calling `deliver`, messages from one peer in the order received (a delayed
 * or partitioned link); a message whose connection closed meanwhile is lost with it.
 */
export interface PeerFaultHook {
  allow(from: number, to: number, msg: PeerMessage): boolean;
  hold?(from: number, to: number, msg: PeerMessage, deliver: () => void): boolean;
}

export interface PeerTransportOptions {
  self: number;
  peers: readonly PeerAddress[];
  listenHost: string;
  listenPort: number;
  log: Logger;
  onMessage(from: number, msg: PeerMessage): void;
  onDisconnected(peer: number): void;
  faults?: PeerFaultHook;
  /** jute.maxbuffer: one txn of that size must fit in a peer frame. */
  juteMaxBuffer?: number;
  /** Mutual TLS with a common CA; null or absent for plain TCP. */
  tls?: PeerTlsOptions | null;
  /** A secret every member holds: the hello becomes an HMAC challenge-response. */
  secret?: Uint8Array | null;
}
