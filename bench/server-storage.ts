/**
 * Server storage benchmark against a real standalone `zkts server` process: load N znodes of
 * 128 random bytes (parents of 1000 children each) with pipelined creates from the zkts
 * client while a separate thread probes getData one request at a time; then report the
 * server's RSS, the size of a snapshot of the whole tree, and the time from kill -9 to
 * serving again. Every phase is bounded in time.
 *
 *   npm run bench:server-storage                       # 1,000,000 znodes
 *   npm run bench:server-storage -- --nodes 200000     # a smaller run
 *
 * Options: --nodes N (1000000), --in-flight W (2000 creates outstanding), --load-seconds S
 * (900: the load stops there and the rest runs on what was loaded), --snap-count C (100000,
 * zoo.cfg snapCount during the load), --keep (leave the dataDir).
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fourLetterWord } from '../src/admin/four-letter-client.js';
import { startOnReservedPorts } from '../src/testing/member.js';
import { MemberProcess } from '../src/testing/member-process.js';
import { reservePort, type PortReservation } from '../src/testing/ports.js';
import { waitFor } from '../src/testing/wait.js';
import { createClient, type ZooKeeperClient } from '../src/client/index.js';

const mebibyte = 1024 * 1024;
const childrenPerParent = 1000;
const dataBytes = 128;
const targets = {
  rssBytesMax: 400 * mebibyte,
  snapshotBytesMax: 150_000_000,
  restartMsMax: 2000,
  probeP99MsMax: 5,
  probeMaxMsMax: 50,
} as const;
/** How long the recovered server is left idle before its settled RSS is read (V8 starts
 * shrinking an idle heap after 8 s). */
const settleMs = 10_000;
/** Start-up, recovery and snapshot phases each give up after this long. */
const phaseMsMax = 120_000;
const probePath = '/probe';
/** Where the servers' output goes, server.log (--keep only). */
let rawLogDir: string | null = null;

interface Options {
  nodes: number;
  inFlight: number;
  loadSeconds: number;
  snapCount: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { nodes: 1_000_000, inFlight: 2000, loadSeconds: 900, snapCount: 100_000, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): number => {
      const parsed = Number(argv[++i]);
      if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${flag} needs a positive integer`);
      return parsed;
    };
    if (flag === '--nodes') options.nodes = value();
    else if (flag === '--in-flight') options.inFlight = value();
    else if (flag === '--load-seconds') options.loadSeconds = value();
    else if (flag === '--snap-count') options.snapCount = value();
    else if (flag === '--keep') options.keep = true;
    else throw new Error(`unknown option ${flag}`);
  }
  return options;
}

// ---- the server process ----------------------------------------------------------------

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** Messages kept from the server's stdout; the rest is dropped (a load logs little anyway). */
const keptMessages = new Set(['serving clients', 'state recovered', 'snapshot written', 'snapshot loaded', 'snapshot failed']);

/**
 * One run of `zkts server` under the launcher, from spawn to kill; a restart is a new run, so
 * that the log lines it waits for are its own.
 */
class Server {
  readonly spawnedAt = performance.now();
  readonly lines: (LogLine & { at: number })[] = [];
  private readonly process: MemberProcess;
  private readonly started: Promise<void>;

  constructor(configPath: string, port: PortReservation) {
    // ZKTS_BENCH_NODE_ARGS: extra node flags for the server (e.g. --cpu-prof --trace-gc); with
    // --keep, the server's output goes to server.log next to the dataDir.
    const nodeArgs = (process.env['ZKTS_BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    const logFile = rawLogDir === null ? null : path.join(rawLogDir, 'server.log');
    this.process = new MemberProcess({ name: 'zkts server', configPath, logFile, seed: 1, nodeArgs });
    this.process.log.onRecord((record) => this.onRecord(record as LogLine));
    this.started = startOnReservedPorts(this.process, [port]);
    // waitForLog reports a failed start.
    this.started.catch(() => undefined);
  }

  async waitForLog(message: string): Promise<LogLine & { at: number }> {
    await this.started;
    const found = await waitFor(`'${message}' from the server`, () => this.lines.find((l) => l.msg === message) ?? (this.process.running ? undefined : 'exited'), { timeoutMs: phaseMsMax, intervalMs: 50 });
    if (found === 'exited') throw new Error(`server exited waiting for '${message}':\n${this.process.log.tail(20)}`);
    return found;
  }

  async kill(): Promise<void> {
    await this.process.kill();
    await this.process.log.close();
  }

  /** VmRSS and VmHWM (peak) from /proc, in bytes. */
  memory(): { rss: number; peak: number } {
    const status = readFileSync(`/proc/${this.process.pid}/status`, 'utf8');
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kib('VmRSS'), peak: kib('VmHWM') };
  }

  private onRecord(line: LogLine): void {
    if (line.level < 40 && !keptMessages.has(line.msg)) return;
    this.lines.push({ ...line, at: performance.now() });
    if (line.level >= 40) console.log(`  server ${line.level === 40 ? 'warning' : 'error'}: ${line.msg}`);
  }
}

function writeConfig(configPath: string, dataDir: string, port: number, snapCount: number): void {
  const lines = [`tickTime=2000`, `dataDir=${dataDir}`, `clientPort=${port}`, `clientPortAddress=127.0.0.1`, `4lw.commands.whitelist=*`, `snapCount=${snapCount}`];
  writeFileSync(configPath, lines.join('\n') + '\n');
}

async function connect(port: number, connectTimeout = phaseMsMax): Promise<ZooKeeperClient> {
  const client = createClient(`127.0.0.1:${port}`, { sessionTimeout: 30_000, connectTimeout, reconnectDelay: { min: 5, max: 20 }, closeTimeout: 500 });
  await client.connect();
  return client;
}

// ---- the probe (a worker thread, so the loader's event loop does not skew it) ------------

interface ProbeSummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** The slowest probes: ms since the probe started, latency ms. */
  slowest: [number, number][];
}

async function runProbe(port: number): Promise<void> {
  const client = await connect(port);
  let stop = false;
  parentPort!.on('message', () => (stop = true));
  parentPort!.postMessage('ready');
  const started = performance.now();
  const samples: number[] = [];
  const slow: [number, number][] = [];
  while (!stop) {
    const sent = performance.now();
    await client.getData(probePath);
    const ms = performance.now() - sent;
    samples.push(ms);
    if (ms > 10) slow.push([Math.round(sent - started), Number(ms.toFixed(1))]);
  }
  await client.close();
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? NaN;
  const summary: ProbeSummary = {
    count: samples.length,
    p50: at(0.5),
    p99: at(0.99),
    p999: at(0.999),
    max: samples.at(-1) ?? NaN,
    slowest: slow.sort((a, b) => b[1] - a[1]).slice(0, 8),
  };
  parentPort!.postMessage(summary);
}

function startProbe(port: number): Promise<{ stop: () => Promise<ProbeSummary> }> {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { port } });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () =>
      resolve({
        stop: () =>
          new Promise<ProbeSummary>((done) => {
            worker.once('message', (summary: ProbeSummary) => done(summary));
            worker.postMessage('stop');
          }),
      }),
    );
  });
}

// ---- the phases ------------------------------------------------------------------------

function childPath(i: number): string {
  return `/p${Math.floor(i / childrenPerParent)}/c${i % childrenPerParent}`;
}

/** Creates the parents, then the children with `inFlight` creates outstanding; stops at the deadline. */
async function load(client: ZooKeeperClient, options: Options): Promise<{ created: number; seconds: number }> {
  const parents = Math.ceil(options.nodes / childrenPerParent);
  const random = randomFillSync(Buffer.alloc(dataBytes * 4096));
  const dataFor = (i: number) => random.subarray((i % 4096) * dataBytes, (i % 4096 + 1) * dataBytes);
  const started = performance.now();
  const deadline = started + options.loadSeconds * 1000;
  await Promise.all(Array.from({ length: parents }, (_, p) => client.create(`/p${p}`, dataFor(p))));
  let next = 0;
  let created = 0;
  let reported = 0;
  const lane = async (): Promise<void> => {
    while (next < options.nodes && performance.now() < deadline) {
      const i = next++;
      await client.create(childPath(i), dataFor(i * 7919));
      created++;
      if (created - reported >= options.nodes / 10) {
        reported = created;
        const seconds = (performance.now() - started) / 1000;
        console.log(`  loaded ${created} znodes in ${seconds.toFixed(1)} s (${Math.round(created / seconds)}/s)`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, lane));
  return { created, seconds: (performance.now() - started) / 1000 };
}

/** Spawns the server and measures until a getData on `path` succeeds. */
async function restartToServing(configPath: string, port: PortReservation, path: string): Promise<{ server: Server; ms: number; servingLogMs: number; client: ZooKeeperClient }> {
  const server = new Server(configPath, port);
  const client = await connect(port.port);
  await client.getData(path);
  const ms = performance.now() - server.spawnedAt;
  const serving = await server.waitForLog('serving clients');
  return { server, ms, servingLogMs: serving.at - server.spawnedAt, client };
}

function newestSnapshot(dataDir: string): { name: string; bytes: number } | undefined {
  const names = readdirSync(dataDir).filter((name) => /^snapshot\.[0-9a-f]{16}$/.test(name)).sort();
  const name = names.at(-1);
  return name === undefined ? undefined : { name, bytes: statSync(path.join(dataDir, name)).size };
}

function mib(bytes: number): string {
  return `${(bytes / mebibyte).toFixed(1)} MiB`;
}

function row(figure: string, measured: string, target: string, ok: boolean | undefined): void {
  const verdict = ok === undefined ? '' : ok ? 'ok' : 'MISSED';
  console.log(`  ${figure.padEnd(44)} ${measured.padStart(16)}   target ${target.padEnd(10)} ${verdict}`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const root = mkdtempSync(path.join(os.tmpdir(), 'zkts-bench-server-'));
  const dataDir = path.join(root, 'data');
  mkdirSync(dataDir);
  const configPath = path.join(root, 'zoo.cfg');
  // Reserved for the whole run: every restart listens on it again.
  const reservation = await reservePort();
  const port = reservation.port;
  writeConfig(configPath, dataDir, port, options.snapCount);
  if (options.keep) rawLogDir = root;
  console.log(`server storage benchmark: ${options.nodes} znodes of ${dataBytes} B, ${options.inFlight} creates in flight, snapCount ${options.snapCount}, ${os.cpus().length} cores, dataDir ${dataDir}`);

  let server = new Server(configPath, reservation);
  const servers = [server];
  try {
    await server.waitForLog('serving clients');
    const loader = await connect(port);
    await loader.create(probePath, Buffer.alloc(dataBytes, 1));
    const probe = await startProbe(port);
    const loaded = await load(loader, options);
    const probed = await probe.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const memory = server.memory();
    const mntr = await fourLetterWord('127.0.0.1', port, 'mntr', 10_000);
    const mntrRss = Number(/^zk_rss_bytes\s+(\d+)$/m.exec(mntr)?.[1] ?? NaN);
    const nodeCount = Number(/^zk_znode_count\s+(\d+)$/m.exec(mntr)?.[1] ?? NaN);
    const field = (key: string) => Number(new RegExp(`^${key}\\s+([0-9.]+)$`, 'm').exec(mntr)?.[1] ?? NaN);
    // The snapshot store and the server's snapshotter both log 'snapshot written'; one will do.
    const snapshotsDuringLoad = server.lines.filter((l) => l.msg === 'snapshot written' && l['component'] === 'snapshots');
    const periodic = newestSnapshot(dataDir);
    console.log(`  load: ${loaded.created} znodes in ${loaded.seconds.toFixed(1)} s (${Math.round(loaded.created / loaded.seconds)} creates/s); server znode count ${nodeCount}`);
    console.log(`  snapshots during the load: ${snapshotsDuringLoad.map((l) => `${l['records']} records ${mib(Number(l['bytes']))} in ${l['ms']} ms`).join('; ') || 'none'}`);
    console.log(`  server after the load: heap ${mib(field('zk_heap_used_bytes'))} used of ${mib(field('zk_heap_total_bytes'))}, array buffers ${mib(field('zk_array_buffers_bytes'))}; event loop delay p50 ${field('zk_event_loop_delay_p50_ms')} ms, p99 ${field('zk_event_loop_delay_p99_ms')} ms, max ${field('zk_event_loop_delay_max_ms')} ms`);
    console.log(`  probe: ${probed.count} getData, p50 ${probed.p50.toFixed(2)} ms, p99.9 ${probed.p999.toFixed(1)} ms; slowest [ms into the load, ms]: ${JSON.stringify(probed.slowest)}`);
    await loader.close().catch(() => undefined);

    // kill -9 in the state the load left: the newest periodic snapshot plus the log after it.
    const lastPath = childPath(Math.max(0, loaded.created - 1));
    await server.kill();
    const first = await restartToServing(configPath, reservation, lastPath);
    server = first.server;
    servers.push(server);
    const recovered1 = await server.waitForLog('state recovered');
    await first.client.close().catch(() => undefined);
    const afterRecovery = server.memory();
    // The recovered server holding the whole tree, once idle long enough for V8 to collect
    // what recovery left behind.
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const settled = server.memory();

    // snapCount 2: the first write after start (a createSession) snapshots the whole tree.
    await server.kill();
    writeConfig(configPath, dataDir, port, 2);
    const snapshotting = await restartToServing(configPath, reservation, lastPath);
    server = snapshotting.server;
    servers.push(server);
    const full = await server.waitForLog('snapshot written');
    await snapshotting.client.close().catch(() => undefined);

    // kill -9 once more: recovery from that snapshot and a log tail of a few txns.
    await server.kill();
    writeConfig(configPath, dataDir, port, options.snapCount);
    const second = await restartToServing(configPath, reservation, lastPath);
    server = second.server;
    servers.push(server);
    const recovered2 = await server.waitForLog('state recovered');
    await second.client.close().catch(() => undefined);

    console.log(`  restart 1 (periodic snapshot ${periodic?.name ?? 'none'} + log): ${JSON.stringify({ replayed: recovered1['replayed'], nodes: recovered1['nodes'] })}, 'serving clients' logged ${first.servingLogMs.toFixed(0)} ms after spawn; RSS after it ${mib(afterRecovery.rss)}`);
    console.log(`  full snapshot: ${full['records']} records, ${full['bytes']} bytes in ${full['ms']} ms`);
    console.log(`  restart 2 (full snapshot): ${JSON.stringify({ replayed: recovered2['replayed'], nodes: recovered2['nodes'] })}, 'serving clients' logged ${second.servingLogMs.toFixed(0)} ms after spawn`);
    console.log('');
    console.log(`figures (${loaded.created} znodes loaded${loaded.created < options.nodes ? `, of ${options.nodes} asked: the load hit --load-seconds` : ''}):`);
    row('server RSS after the load (VmRSS)', mib(memory.rss), '400 MiB', memory.rss <= targets.rssBytesMax);
    row('server RSS after the load (mntr zk_rss_bytes)', mib(mntrRss), '400 MiB', mntrRss <= targets.rssBytesMax);
    row(`recovered server's RSS, ${settleMs / 1000} s idle (VmRSS)`, mib(settled.rss), '400 MiB', settled.rss <= targets.rssBytesMax);
    row('server peak RSS during the load (VmHWM)', mib(memory.peak), '-', undefined);
    row('snapshot of the whole tree', `${(Number(full['bytes']) / 1e6).toFixed(1)} MB`, '150 MB', Number(full['bytes']) <= targets.snapshotBytesMax);
    row('newest snapshot written during the load', periodic === undefined ? 'none' : `${(periodic.bytes / 1e6).toFixed(1)} MB`, '-', undefined);
    row('kill -9 -> serving (snapshot + log tail)', `${first.ms.toFixed(0)} ms`, '2000 ms', first.ms <= targets.restartMsMax);
    row('kill -9 -> serving (snapshot only)', `${second.ms.toFixed(0)} ms`, '2000 ms', second.ms <= targets.restartMsMax);
    row('getData probe p99 during the load', `${probed.p99.toFixed(2)} ms`, '5 ms', probed.p99 <= targets.probeP99MsMax);
    row('getData probe max during the load', `${probed.max.toFixed(1)} ms`, '50 ms', probed.max <= targets.probeMaxMsMax);
  } finally {
    for (const s of servers) await s.kill();
    reservation.close();
    if (options.keep) console.log(`dataDir kept: ${dataDir}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

if (isMainThread) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  void runProbe((workerData as { port: number }).port);
}
