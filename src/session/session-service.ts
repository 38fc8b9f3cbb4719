import { hex, type Logger } from '../logger.js';
import type { ConnectRequest, ConnectResponse } from '../protocol/records.js';
import { passwordBytes, passwordMatches, sessionPassword } from './password.js';
import type { ReplicatedSessions, SessionAuthority } from './session-authority.js';
import type { Revalidation } from '../quorum/effects.js';
import { SessionIdGenerator } from './session-id.js';

/** A client connection as sessions see it: no sockets here. */
export interface SessionHolder {
  sessionId: bigint;
  sessionTimeout: number;
  /** The client asked to close its session: its own reply closes it, not the apply. */
  readonly closeRequested: boolean;
  readonly isOpen: boolean;
  readonly log: Logger;
  close(reason: string): void;
}

/** How sessions are created and closed: as writes, through the server's commit pipeline. */
export interface SessionWriter {
  createSession(sessionId: bigint, timeoutMs: number): Promise<void>;
  closeSession(sessionId: bigint): Promise<void>;
}

/** What the apply stage tells sessions as session txns are applied. */
export interface SessionChanges {
  created(sessionId: bigint, timeoutMs: number): void;
  closed(sessionId: bigint): void;
  /** The whole replicated state was replaced (a snapshot from the leader). */
  reset(): void;
}

export interface SessionServiceOptions {
  serverId: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  authority: SessionAuthority;
  replicated: ReplicatedSessions;
  writer: SessionWriter;
  log: Logger;
  now?: () => number;
}

/**
 * Sessions as clients see them: the handshake (a new session, or a resumed one with its
 * password, revalidated by the authority), which connection holds which session, and
 * expiry: sessions the authority finds out of time are closed through the commit pipeline.
 */
export class SessionService implements SessionChanges {
  readonly authority: SessionAuthority;
  private readonly options: SessionServiceOptions;
  private readonly replicated: ReplicatedSessions;
  private readonly ids: SessionIdGenerator;
  private readonly holders = new Map<bigint, SessionHolder>();
  private readonly now: () => number;

  constructor(options: SessionServiceOptions) {
    this.options = options;
    this.authority = options.authority;
    this.replicated = options.replicated;
    this.now = options.now ?? Date.now;
    this.ids = new SessionIdGenerator(options.serverId, this.now());
    this.authority.expireTo((sessionId) => this.expireSession(sessionId));
  }

  /** The ConnectResponse for a ConnectRequest, or null to close the connection without one. */
  async handshake(holder: SessionHolder, request: ConnectRequest): Promise<ConnectResponse | null> {
    if (request.lastZxidSeen > this.replicated.lastZxid) {
      holder.log.info({ clientZxid: hex(request.lastZxidSeen), ourZxid: hex(this.replicated.lastZxid) }, 'client has seen a later zxid than this server; refusing');
      return null;
    }
    const timeOut = Math.min(Math.max(request.timeOut, this.options.minTimeoutMs), this.options.maxTimeoutMs);
    const readOnly = request.readOnly === undefined ? undefined : false;
    if (request.sessionId === 0n) return this.create(holder, timeOut, readOnly);
    const previous = this.holders.get(request.sessionId);
    if (previous !== undefined && previous !== holder) previous.close('session moved to another connection');
    if (!passwordMatches(request.sessionId, request.passwd)) {
      holder.log.info({ session: hex(request.sessionId) }, 'wrong password for session');
      return invalidSession(readOnly);
    }
    const answer = await new Promise<Revalidation>((resolve) => this.authority.revalidate(request.sessionId, timeOut, resolve));
    // No leader to ask (this member stopped serving meanwhile): the client tries another member.
    if (answer === 'unknown') {
      holder.log.info({ session: hex(request.sessionId) }, 'no leader to revalidate the session; closing');
      return null;
    }
    // Re-checked after the await: the session may have closed while the leader answered, and
    // closed() could not reach this holder before it was bound.
    if (answer === 'invalid' || !holder.isOpen || !this.replicated.has(request.sessionId)) {
      holder.log.info({ session: hex(request.sessionId) }, 'session expired or unknown');
      return invalidSession(readOnly);
    }
    this.bind(holder, request.sessionId, timeOut);
    holder.log.debug({ session: hex(request.sessionId), timeOut }, 'session resumed');
    return { protocolVersion: 0, timeOut, sessionId: request.sessionId, passwd: sessionPassword(request.sessionId), readOnly };
  }

  /** Every packet of an established session (pings included) keeps it alive. */
  touch(holder: SessionHolder): void {
    this.authority.touch(holder.sessionId, holder.sessionTimeout);
  }

  /** True while the session may still issue requests. */
  isLive(sessionId: bigint): boolean {
    return this.replicated.has(sessionId) && !this.authority.isExpiring(sessionId);
  }

  /** The client asked to close its session (the close is being submitted). */
  closeRequested(sessionId: bigint): void {
    this.authority.closeRequested(sessionId);
  }

  /** The connection closed: it no longer holds its session (the session lives on until it expires). */
  release(holder: SessionHolder): void {
    if (holder.sessionId !== 0n && this.holders.get(holder.sessionId) === holder) this.holders.delete(holder.sessionId);
  }

  /** A beat of the session clock (every tickTime): the authority expires what is due. */
  clock(): void {
    this.authority.clock(this.now());
  }

  /** The authority found the session out of time: its close goes through the commit pipeline. */
  private expireSession(sessionId: bigint): void {
    this.options.log.info({ session: hex(sessionId) }, 'session expired');
    this.options.writer.closeSession(sessionId).catch((err) => this.options.log.error({ err, session: hex(sessionId) }, 'closing an expired session failed'));
  }

  // ---- SessionChanges: the replicated state as it is applied --------------------------------

  created(sessionId: bigint, timeoutMs: number): void {
    this.authority.created(sessionId, timeoutMs);
  }

  /** The session is gone everywhere: its connection here closes, unless it asked for this. */
  closed(sessionId: bigint): void {
    this.authority.closed(sessionId);
    const holder = this.holders.get(sessionId);
    if (holder === undefined || holder.closeRequested) return;
    this.holders.delete(sessionId);
    holder.close('session expired');
  }

  reset(): void {
    this.authority.reset();
  }

  private async create(holder: SessionHolder, timeOut: number, readOnly: boolean | undefined): Promise<ConnectResponse | null> {
    const sessionId = this.ids.nextId();
    try {
      await this.options.writer.createSession(sessionId, timeOut);
    } catch (err) {
      holder.log.info({ reason: (err as Error).message }, 'session could not be created');
      return null;
    }
    if (!holder.isOpen || !this.replicated.has(sessionId)) return null;
    this.bind(holder, sessionId, timeOut);
    holder.log.debug({ session: hex(sessionId), timeOut }, 'session created');
    return { protocolVersion: 0, timeOut, sessionId, passwd: sessionPassword(sessionId), readOnly };
  }

  private bind(holder: SessionHolder, sessionId: bigint, timeOut: number): void {
    holder.sessionId = sessionId;
    holder.sessionTimeout = timeOut;
    this.holders.set(sessionId, holder);
  }
}

function invalidSession(readOnly: boolean | undefined): ConnectResponse {
  return { protocolVersion: 0, timeOut: 0, sessionId: 0n, passwd: Buffer.alloc(passwordBytes), readOnly };
}
