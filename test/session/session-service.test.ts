// The session service: the handshake (a new session is created through the writer; a resumed
// one needs its password and the authority's word), which connection holds a session, and
// expiry through the writer.
import { describe, expect, it } from 'vitest';
import { SessionTable as Table } from '../support/session-table.js';
import { silentLogger } from '../../src/logger.js';
import type { ConnectRequest } from '../../src/protocol/records.js';
import { sessionPassword } from '../../src/session/password.js';
import { EnsembleSessionAuthority, type SessionEvent } from '../../src/server/ensemble-sessions.js';
import { LocalSessionAuthority } from '../../src/server/local-sessions.js';
import { SessionLiveness, SessionMode } from '../../src/quorum/session-liveness.js';
import { SessionService, type SessionHolder, type SessionWriter } from '../../src/session/session-service.js';

/** Writes that apply to the table at once, as a committed createSession/closeSession would. */
class TableWriter implements SessionWriter {
  readonly closed: bigint[] = [];
  service: SessionService | null = null;
  constructor(private readonly table: Table) {}
  async createSession(sessionId: bigint, timeoutMs: number): Promise<void> {
    this.table.sessions.set(sessionId, timeoutMs);
    this.table.lastZxid++;
    this.service!.created(sessionId, timeoutMs);
  }
  async closeSession(sessionId: bigint): Promise<void> {
    this.closed.push(sessionId);
    this.table.sessions.delete(sessionId);
    this.table.lastZxid++;
    this.service!.closed(sessionId);
  }
}

class Holder implements SessionHolder {
  sessionId = 0n;
  sessionTimeout = 0;
  closeRequested = false;
  isOpen = true;
  closedWith: string | null = null;
  readonly log = silentLogger();
  close(reason: string): void {
    this.isOpen = false;
    this.closedWith = reason;
  }
}

function setup() {
  const table = new Table();
  let now = 50_000;
  const clock = { advance: (ms: number) => (now += ms) };
  const writer = new TableWriter(table);
  const authority = new LocalSessionAuthority(100, table, () => now);
  const service = new SessionService({ serverId: 1, minTimeoutMs: 200, maxTimeoutMs: 2000, authority, replicated: table, writer, log: silentLogger(), now: () => now });
  writer.service = service;
  return { table, clock, writer, service };
}

const connect = (fields: Partial<ConnectRequest> = {}): ConnectRequest => ({ protocolVersion: 0, lastZxidSeen: 0n, timeOut: 1000, sessionId: 0n, passwd: Buffer.alloc(16), readOnly: false, ...fields });

describe('SessionService', () => {
  it('creates a session through the writer with the timeout clamped to [min, max], and binds it to the connection', async () => {
    const { table, service } = setup();
    const holder = new Holder();
    const response = await service.handshake(holder, connect({ timeOut: 60_000 }));
    expect(response).toMatchObject({ timeOut: 2000, sessionId: holder.sessionId, readOnly: false });
    expect(response!.passwd.equals(sessionPassword(holder.sessionId))).toBe(true);
    expect(table.sessions.get(holder.sessionId)).toBe(2000);
    expect(service.isLive(holder.sessionId)).toBe(true);
  });

  it('standalone: once its client asked to close it, a session is no longer live or resumable, though the close has not applied yet', async () => {
    const { table, service } = setup();
    const first = new Holder();
    await service.handshake(first, connect());
    const id = first.sessionId;
    service.closeRequested(id);
    expect(table.sessions.has(id)).toBe(true);
    expect(service.isLive(id)).toBe(false);
    const resumed = await service.handshake(new Holder(), connect({ sessionId: id, passwd: sessionPassword(id) }));
    expect(resumed).toMatchObject({ timeOut: 0, sessionId: 0n });
  });

  it('resumes a session on a new connection only with its password, and closes the connection that held it', async () => {
    const { service } = setup();
    const first = new Holder();
    await service.handshake(first, connect());
    const id = first.sessionId;
    const wrong = await service.handshake(new Holder(), connect({ sessionId: id, passwd: Buffer.alloc(16, 1) }));
    expect(wrong).toMatchObject({ timeOut: 0, sessionId: 0n });
    const second = new Holder();
    const resumed = await service.handshake(second, connect({ sessionId: id, passwd: sessionPassword(id) }));
    expect(resumed).toMatchObject({ sessionId: id, timeOut: 1000 });
    expect(first.closedWith).toBe('session moved to another connection');
    // The old connection's close does not unbind the session from the new one.
    service.release(first);
    service.closed(id);
    expect(second.closedWith).toBe('session expired');
  });

  it('refuses a client that has seen a later zxid than this server', async () => {
    const { service } = setup();
    expect(await service.handshake(new Holder(), connect({ lastZxidSeen: 5n }))).toBeNull();
  });

  it('closes an expired session through the writer, which closes its connection; a client that asked to close keeps its own reply', async () => {
    const { clock, writer, service } = setup();
    const silent = new Holder();
    const leaving = new Holder();
    await service.handshake(silent, connect({ timeOut: 300 }));
    await service.handshake(leaving, connect({ timeOut: 300 }));
    leaving.closeRequested = true;
    clock.advance(1000);
    service.clock();
    await Promise.resolve();
    expect(writer.closed.sort()).toEqual([silent.sessionId, leaving.sessionId].sort());
    expect(silent.closedWith).toBe('session expired');
    expect(leaving.closedWith).toBeNull();
    expect(service.isLive(silent.sessionId)).toBe(false);
    const again = await service.handshake(new Holder(), connect({ sessionId: silent.sessionId, passwd: sessionPassword(silent.sessionId) }));
    expect(again).toMatchObject({ timeOut: 0, sessionId: 0n });
  });

  it('keeps a session alive while its connection sends packets', async () => {
    const { clock, writer, service } = setup();
    const holder = new Holder();
    await service.handshake(holder, connect({ timeOut: 500 }));
    for (let i = 0; i < 5; i++) {
      clock.advance(300);
      service.touch(holder);
      service.clock();
    }
    expect(writer.closed).toEqual([]);
    expect(service.isLive(holder.sessionId)).toBe(true);
  });

  it('a reconnection waiting for the leader\'s word when this member stops is closed without a reply, not told its session expired', async () => {
    const { table, writer, service } = setup();
    const first = new Holder();
    await service.handshake(first, connect());
    const id = first.sessionId;
    // The same table behind an ensemble member's authority, following a leader.
    const events: SessionEvent[] = [];
    const liveness = new SessionLiveness(100, 1);
    liveness.setMode(SessionMode.follow, []);
    const authority = new EnsembleSessionAuthority(table, { sessionEvent: (e) => events.push(e), touchSession: () => undefined, sessionLiveness: liveness });
    const member = new SessionService({ serverId: 2, minTimeoutMs: 200, maxTimeoutMs: 2000, authority, replicated: table, writer, log: silentLogger() });
    const answer = member.handshake(new Holder(), connect({ sessionId: id, passwd: sessionPassword(id) }));
    expect(events.map((e) => e.kind)).toContain('revalidateSession');
    authority.stopped();
    expect(await answer).toBeNull();
    // Asked after the stop: the same.
    expect(await member.handshake(new Holder(), connect({ sessionId: id, passwd: sessionPassword(id) }))).toBeNull();
    // The leader's "invalid" still reaches the client as an expired session.
    const leaderSaid = new EnsembleSessionAuthority(table, { sessionEvent: () => undefined, touchSession: () => undefined, sessionLiveness: liveness });
    const other = new SessionService({ serverId: 3, minTimeoutMs: 200, maxTimeoutMs: 2000, authority: leaderSaid, replicated: table, writer, log: silentLogger() });
    const refused = other.handshake(new Holder(), connect({ sessionId: id, passwd: sessionPassword(id) }));
    leaderSaid.revalidated(id, 'invalid');
    expect(await refused).toMatchObject({ timeOut: 0, sessionId: 0n });
  });
});
