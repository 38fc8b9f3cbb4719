// `zkts cluster up`: runs the cluster in the foreground, answers the other subcommands on its
// control endpoint, and keeps a status table on screen that follows every change.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { claimControlFile, newToken, releaseControlFile, startControlServer, type ControlServer, type Progress, type Reply } from './cluster-control.js';
import { UsageError, type ClusterRequest } from './cluster-requests.js';
import { ClusterSupervisor, type SupervisorOptions } from './cluster-supervisor.js';
import { renderConnectStrings, renderTable } from './cluster-view.js';

/** How often the table is brought up to date when nothing announces a change (zxids move with every write). */
const refreshIntervalMs = 1_000;
/** The least time between two refreshes, however many changes are announced. */
const refreshGapMsMin = 100;
/** The signals that stop the cluster. */
const stopSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** The file that records the shape of the cluster whose data the directory holds. */
const shapeFileName = 'cluster.json';

interface Shape {
  nodes: number;
  observers: number;
}

/**
 * The cluster's shape: what the data directory recorded on its first `up`, which a later `up`
 * may not change (a majority of the old voters may not be among the new ones: committed writes
 * could be lost), or what the options ask for on a fresh directory.
 */
async function settleShape(dataDir: string, asked: Partial<Shape>): Promise<Shape> {
  const file = path.join(dataDir, shapeFileName);
  let recorded: Shape | null = null;
  try {
    recorded = JSON.parse(await readFile(file, 'utf8')) as Shape;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file} is unreadable (${(error as Error).message}); remove it if ${dataDir} holds no cluster`);
  }
  if (recorded === null) {
    const shape = { nodes: asked.nodes ?? 3, observers: asked.observers ?? 0 };
    await writeFile(file, `${JSON.stringify(shape)}\n`);
    return shape;
  }
  for (const key of ['nodes', 'observers'] as const) {
    if (asked[key] !== undefined && asked[key] !== recorded[key]) {
      throw new UsageError(`${dataDir} holds a cluster of ${recorded.nodes} nodes and ${recorded.observers} observers; --${key} ${asked[key]} would change its ensemble. Use another --data-dir, or remove ${dataDir} to start afresh`);
    }
  }
  return recorded;
}

/** Where output goes: on a terminal the table stays at the bottom, redrawn in place; elsewhere each new table is appended. */
class Screen {
  private tableRows = 0;
  private lastTable = '';

  constructor(private readonly out: NodeJS.WriteStream) {}

  /** A line above the table, with the time. */
  event(text: string): void {
    this.erase();
    this.out.write(`${timestamp()}  ${text}\n`);
    if (this.out.isTTY) this.draw(this.lastTable);
  }

  /** Shows the table if it changed. */
  table(table: string): void {
    if (table === this.lastTable) return;
    this.lastTable = table;
    this.erase();
    this.draw(table);
  }

  /** Leaves the last table where it is; what comes next is printed below it. */
  freeze(): void {
    this.tableRows = 0;
    this.lastTable = '';
  }

  private draw(table: string): void {
    if (table === '') return;
    const text = `${timestamp()}  ${table}\n`;
    this.out.write(this.out.isTTY ? text : `${text}\n`);
    if (this.out.isTTY) {
      // A terminal that does not say its width (columns 0) is taken to be 80 wide.
      const width = this.out.columns || 80;
      this.tableRows = text.split('\n').slice(0, -1).reduce((rows, line) => rows + Math.max(1, Math.ceil(line.length / width)), 0);
    }
  }

  private erase(): void {
    if (!this.out.isTTY || this.tableRows === 0) return;
    this.out.write(`\x1b[${this.tableRows}F\x1b[J`);
    this.tableRows = 0;
  }
}

function timestamp(): string {
  return new Date().toTimeString().slice(0, 8);
}

/** Brings the table up to date when told something changed, and every refreshIntervalMs; never more than one refresh at a time, nor closer than refreshGapMsMin. */
class Watcher {
  private running = false;
  private again = false;
  private lastAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly interval: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly supervisor: ClusterSupervisor,
    private readonly screen: Screen,
  ) {
    this.interval = setInterval(() => this.changed(), refreshIntervalMs);
    const cluster = supervisor.cluster;
    cluster.on('exit', () => this.changed());
    for (const s of cluster.servers) cluster.memberProcess(s.id).log.onRecord((record) => record.msg === 'role changed' && this.changed());
  }

  changed(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer !== null) return;
    const wait = this.lastAt + refreshGapMsMin - performance.now();
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, Math.max(0, wait));
  }

  private async refresh(): Promise<void> {
    this.running = true;
    try {
      const view = await this.supervisor.refresh();
      if (!this.stopped) this.screen.table(renderTable(view));
    } catch (error) {
      this.screen.event(`status refresh failed: ${(error as Error).message}`);
    } finally {
      this.running = false;
      this.lastAt = performance.now();
      if (this.again) {
        this.again = false;
        this.changed();
      }
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.interval);
    if (this.timer !== null) clearTimeout(this.timer);
  }
}

/** A subcommand as one line, for the record on screen. */
function describeRequest(request: ClusterRequest): string {
  const { command, ...rest } = request;
  const args = Object.values(rest).map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v)));
  return [command, ...args].join(' ');
}

export type UpOptions = Omit<SupervisorOptions, 'nodes' | 'observers'> &
  Partial<Shape> & {
    /** How the other subcommands name this data directory ('' when it is their default). */
    dataDirArgument: string;
  };

/** One run of `zkts cluster up`: its cluster, its control endpoint, its screen. */
class ClusterUp {
  private readonly screen = new Screen(process.stdout);
  private readonly token = newToken();
  private supervisor: ClusterSupervisor | null = null;
  private watcher: Watcher | null = null;
  private stopping: Promise<number[]> | null = null;
  private stopped: () => void = () => undefined;
  readonly finished = new Promise<void>((resolve) => (this.stopped = resolve));

  constructor(
    private readonly options: UpOptions,
    private readonly shape: Shape,
  ) {}

  /** Starts the members; false when a signal stopped it meanwhile. */
  async start(): Promise<boolean> {
    const { nodes, observers } = this.shape;
    const out = process.stdout;
    out.write(`zkts cluster: starting ${nodes} nodes${observers > 0 ? ` and ${observers} observers` : ''} in ${this.options.dataDir} (tickTime ${this.options.tickTime} ms)\n`);
    const startedAt = performance.now();
    let supervisor: ClusterSupervisor;
    try {
      supervisor = await ClusterSupervisor.start({ ...this.options, ...this.shape });
    } catch (error) {
      // Ctrl-C on a terminal reaches the members too: a start cut short by it is no error.
      if (this.stopping !== null) return false;
      const last = this.options.basePort + nodes + observers - 1;
      if ((error as { cause?: NodeJS.ErrnoException }).cause?.code === 'EADDRINUSE') throw new Error(`a port from ${this.options.basePort} to ${last} is in use (another cluster, or a ZooKeeper?); choose others with --base-port`, { cause: error });
      throw error;
    }
    if (this.stopping !== null) {
      await supervisor.shutdown(() => undefined);
      return false;
    }
    this.supervisor = supervisor;
    out.write(`zkts cluster: up in ${((performance.now() - startedAt) / 1000).toFixed(1)} s\n`);
    this.banner();
    this.watcher = new Watcher(supervisor, this.screen);
    supervisor.cluster.on('exit', ({ id, code, signal, expected }) => {
      if (!expected && this.stopping === null) this.screen.event(`server ${id} exited by itself (code ${code}, signal ${signal}); it is not restarted (zkts cluster start ${id}). Its log: ${supervisor.cluster.server(id).logFile}`);
    });
    return true;
  }

  private banner(): void {
    const view = this.supervisor!.view();
    const dataDir = this.options.dataDirArgument === '' ? '' : ` --data-dir ${this.options.dataDirArgument}`;
    process.stdout.write(
      [
        renderConnectStrings(view),
        `members' files: ${this.options.dataDir}/server<id>/ (zoo.cfg, data/, server.log)`,
        `from another terminal: zkts cluster status|kill|stop|start|restart|pause|resume|isolate|partition|heal|net|expire|rolling-restart|down${dataDir}`,
        'Ctrl-C stops every member (data is kept)',
        '',
        '',
      ].join('\n'),
    );
    this.screen.table(renderTable(view));
  }

  /** Stops every member, once; resolves with their pids. */
  stopAll(progress: Progress): Promise<number[]> {
    this.stopping ??= (async () => {
      this.watcher?.stop();
      this.screen.freeze();
      const pids = this.supervisor === null ? [] : await this.supervisor.shutdown(progress);
      this.stopped();
      return pids;
    })();
    return this.stopping;
  }

  /** Ctrl-C, SIGTERM and SIGHUP (its terminal closed) stop every member; a second signal exits at once. */
  readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.stopping !== null) {
      // The launcher's exit hook kills whatever is left.
      process.stderr.write(`zkts cluster: ${signal} again; exiting now\n`);
      process.exit(130);
    }
    this.screen.event(`${signal}: stopping every member`);
    void this.stopAll((line) => this.screen.event(line));
  };

  /** What the control endpoint does with a request. */
  readonly handle = async (request: ClusterRequest, progress: Progress): Promise<Reply> => {
    if (this.stopping !== null) return { ok: false, error: 'the cluster is stopping' };
    if (this.supervisor === null) return { ok: false, error: 'the cluster is still starting; try again in a moment' };
    if (request.command === 'down') return this.down(progress);
    const record = request.command !== 'status';
    const echo: Progress = (line) => {
      progress(line);
      this.screen.event(line);
    };
    try {
      const outcome = await this.supervisor.execute(request, echo);
      if (record) this.screen.event(`${describeRequest(request)}: ${outcome.message}`);
      return { ok: true, ...outcome };
    } catch (error) {
      if (record) this.screen.event(`${describeRequest(request)} failed: ${(error as Error).message}`);
      throw error;
    } finally {
      this.watcher?.changed();
    }
  };

  private async down(progress: Progress): Promise<Reply> {
    this.screen.event('down: stopping every member');
    const pids = await this.stopAll((line) => {
      progress(line);
      this.screen.event(line);
    });
    return { ok: true, message: `cluster stopped: ${pids.length} member process(es) ended; data kept in ${this.options.dataDir}`, data: { pid: process.pid, memberPids: pids } };
  }

  /** Runs until stopped; returns the exit code. */
  async run(): Promise<number> {
    const server: ControlServer = await startControlServer(this.token, this.handle);
    try {
      await claimControlFile(this.options.dataDir, { version: 1, pid: process.pid, port: server.port, token: this.token });
    } catch (error) {
      await server.close();
      throw error;
    }
    for (const signal of stopSignals) process.on(signal, this.onSignal);
    try {
      if (!(await this.start())) return 130;
      await this.finished;
      this.screen.event('every member stopped; data kept');
      return 0;
    } finally {
      for (const signal of stopSignals) process.off(signal, this.onSignal);
      await this.stopAll(() => undefined);
      await server.close();
      await releaseControlFile(this.options.dataDir, this.token);
    }
  }
}

/**
 * Runs the cluster until Ctrl-C, SIGTERM or `zkts cluster down`; returns the exit code. The
 * control endpoint comes first, so that a second `up` on the same directory is refused before
 * it starts anything.
 */
export async function runClusterUp(options: UpOptions): Promise<number> {
  await mkdir(options.dataDir, { recursive: true });
  const shape = await settleShape(options.dataDir, options);
  return new ClusterUp(options, shape).run();
}
