import { serverProcessEnv } from '../testing/server-process.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync, createWriteStream } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { serverMode } from '../admin/four-letter-client.js';
import { loadConfigFile } from '../config/config.js';

const here = dirname(fileURLToPath(import.meta.url));
const binPath = resolve(here, '../../../bin/zkts.js');
const defaultConfigs = ['conf/ensemble/zoo1.cfg', 'conf/ensemble/zoo2.cfg', 'conf/ensemble/zoo3.cfg'];
/** How long the members get to elect a leader before we report that they have not. */
const leaderWaitMs = 30_000;
/** How long members get to exit after SIGTERM before they are killed. */
const stopGraceMs = 5000;

interface Member {
  sid: number;
  configFile: string;
  clientPort: number;
  child: ChildProcess;
  exited: boolean;
}

/**
 * `zkts cluster`: runs an ensemble on this machine as one child process per member, prints
 * the connection string and the leader, reports (and does not restart) a member that dies,
 * and stops them all on Ctrl-C.
 */
export async function runCluster(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { logs: { type: 'string', default: 'data/logs' } },
  });
  const configs = positionals.length > 0 ? positionals : defaultConfigs;
  const logDir = resolve(values.logs!);
  mkdirSync(logDir, { recursive: true });
  const members: Member[] = [];
  let stopping = false;
  for (const file of configs) {
    const { config } = loadConfigFile(file);
    const myid = configuredMyId(file, config.dataDir, config.clientPort, config.servers);
    mkdirSync(config.dataDir, { recursive: true });
    const myidFile = resolve(config.dataDir, 'myid');
    if (!existsSync(myidFile)) writeFileSync(myidFile, `${myid}\n`);
    const log = createWriteStream(resolve(logDir, `node${myid}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [binPath, 'server', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...serverProcessEnv } });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const member: Member = { sid: myid, configFile: file, clientPort: config.clientPort, child, exited: false };
    members.push(member);
    child.once('exit', (code, signal) => {
      member.exited = true;
      if (!stopping) process.stderr.write(`zkts cluster: server ${myid} exited (code ${code}, signal ${signal}); not restarting it. Log: ${resolve(logDir, `node${myid}.log`)}\n`);
    });
  }
  const connect = members.map((m) => `127.0.0.1:${m.clientPort}`).join(',');
  process.stdout.write(`zkts cluster: ${members.length} servers starting; logs in ${logDir}\n`);
  process.stdout.write(`connection string: ${connect}\n`);
  const leader = await waitForLeader(members);
  if (leader !== null) process.stdout.write(`leader: server ${leader.sid} (127.0.0.1:${leader.clientPort})\n`);
  else process.stdout.write(`no leader elected within ${leaderWaitMs / 1000} s; see the logs\n`);
  await new Promise<void>((done) => {
    // Ctrl-C reaches the children too (same process group): from here on their exits are expected.
    const stop = () => {
      stopping = true;
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const check = setInterval(() => {
      if (members.every((m) => m.exited)) {
        clearInterval(check);
        done();
      }
    }, 500);
    check.unref();
  });
  stopping = true;
  process.stdout.write('zkts cluster: stopping\n');
  await Promise.all(members.map((m) => stopMember(m)));
  return 0;
}

function configuredMyId(file: string, dataDir: string, clientPort: number, servers: readonly { sid: number; clientPort: number | null }[]): number {
  const myidFile = resolve(dataDir, 'myid');
  if (existsSync(myidFile)) return Number(readFileSync(myidFile, 'utf8').trim());
  const byPort = servers.find((s) => s.clientPort === clientPort);
  if (byPort === undefined) throw new Error(`${file}: cannot tell which server.N this is; write its id to ${myidFile}`);
  return byPort.sid;
}

async function waitForLeader(members: Member[]): Promise<Member | null> {
  const until = Date.now() + leaderWaitMs;
  while (Date.now() < until) {
    for (const m of members) {
      if (!m.exited && (await serverMode('127.0.0.1', m.clientPort, 500)) === 'leader') return m;
    }
    if (members.every((m) => m.exited)) return null;
    await new Promise((r) => setTimeout(r, 200));
  }
  return null;
}

function stopMember(m: Member): Promise<void> {
  if (m.exited) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => m.child.kill('SIGKILL'), stopGraceMs);
    m.child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    m.child.kill('SIGTERM');
  });
}
