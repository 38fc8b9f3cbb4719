// The one launcher (MemberProcess) on its own: how a stop ends, what an exit records, and the
// log tail a report quotes. Real `zkts server` processes, real signals.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemberLog } from '../../src/testing/member-log.js';
import { MemberProcess, memberStopTimeoutMs, type MemberProcessOptions } from '../../src/testing/member-process.js';
import { reservePort, type PortReservation } from '../../src/testing/ports.js';
import { scaled } from '../../src/testing/wait.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A running standalone member on a temporary directory, ended and removed after the test. */
async function runningMember(options: Partial<MemberProcessOptions> = {}): Promise<MemberProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'zkts-member-process-'));
  const port: PortReservation = await reservePort();
  cleanups.push(async () => {
    port.close();
    await rm(dir, { recursive: true, force: true });
  });
  const configPath = path.join(dir, 'zoo.cfg');
  await writeFile(configPath, [`dataDir=${path.join(dir, 'data')}`, `clientPort=${port.port}`, 'clientPortAddress=127.0.0.1', 'tickTime=100'].join('\n'));
  const member = new MemberProcess({ name: 'server 1', configPath, logFile: null, seed: 1, ...options });
  cleanups.push(() => member.kill());
  await member.start();
  return member;
}

describe('MemberProcess', () => {
  it('stop() of a member that exits on SIGTERM reports that no SIGKILL was needed; the exit says how and when', async () => {
    const member = await runningMember();
    const before = Date.now();
    expect(await member.stop()).toBe(false);
    expect(member.exit).toEqual({ code: 0, signal: null, expected: true, at: expect.any(Number) });
    expect(member.exit!.at).toBeGreaterThanOrEqual(before);
    expect(member.exit!.at).toBeLessThanOrEqual(Date.now());
  });

  it('stop() of a member that does not act on SIGTERM kills it after the grace and reports so', async () => {
    const member = await runningMember();
    // Stopped behind the launcher's back, as a hung member would be: SIGTERM stays pending.
    process.kill(member.pid!, 'SIGSTOP');
    const graceMs = 300;
    expect(await member.stop(graceMs)).toBe(true);
    expect(member.exit).toMatchObject({ code: null, signal: 'SIGKILL', expected: true });
    expect(member.log.tail(5)).toContain(`server 1 ignored SIGTERM for ${scaled(graceMs)} ms: SIGKILL`);
  }, scaled(memberStopTimeoutMs * 4));

  it('runs the member with the node flags it is given: --cpu-prof leaves a profile once it stops', async () => {
    const profiles = await mkdtemp(path.join(os.tmpdir(), 'zkts-member-profile-'));
    cleanups.push(() => rm(profiles, { recursive: true, force: true }));
    const member = await runningMember({ nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profiles}`] });
    expect(await readdir(profiles)).toEqual([]);
    await member.stop();
    expect((await readdir(profiles)).filter((name) => name.endsWith('.cpuprofile'))).toHaveLength(1);
  });
});

describe('MemberLog.tail', () => {
  it('gives the last lines, or the last of those a filter keeps, a line still being written included', () => {
    const log = new MemberLog(null);
    log.push(Buffer.from('{"level":40,"msg":"bad input"}\nError: boom\n    at frame\n'), 'stdout');
    log.push(Buffer.from('partial'), 'stderr');
    expect(log.tail(2)).toBe('    at frame\npartial');
    expect(log.tail(10, (line) => !line.startsWith('{'))).toBe('Error: boom\n    at frame\npartial');
    expect(log.tail(1, (line) => line.startsWith('{'))).toBe('{"level":40,"msg":"bad input"}');
  });
});
