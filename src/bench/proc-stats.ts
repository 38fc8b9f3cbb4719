// What a run cost, read from /proc (Linux): a server process's CPU time, resident memory,
// read/write syscalls and context switches, and how busy the whole machine was, so that a
// figure can be put next to what else was running on a shared machine.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every common Linux). */
const clockTicksPerSecond: number = readClockTicks();

function readClockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** One reading of one process. Counters (all but rssKiB) only mean something as differences. */
export interface ProcessSample {
  pid: number;
  /** User + system CPU time of all its threads, ms. */
  cpuMs: number;
  rssKiB: number;
  /** read-like and write-like syscalls of all its threads (/proc/pid/io: syscr, syscw); null when unreadable. */
  readSyscalls: number | null;
  writeSyscalls: number | null;
  /** Summed over its live threads; a thread that exits takes its counts with it. */
  voluntaryContextSwitches: number;
  involuntaryContextSwitches: number;
  /**
   * Time its threads were ready to run but waited for a CPU (/proc/pid/task/tid/schedstat),
   * summed over its live threads, ms: what a busy machine took from it.
   */
  runQueueWaitMs: number;
}

/** Reads /proc/<pid>; throws, naming the pid, when there is no such process. */
export function sampleProcess(pid: number): ProcessSample {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (cause) {
    throw new Error(`no process ${pid} (cannot read /proc/${pid}/stat)`, { cause });
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const io = readOptional(`/proc/${pid}/io`);
  const threads = threadCounters(pid);
  return {
    pid,
    cpuMs: ((utime + stime) * 1000) / clockTicksPerSecond,
    rssKiB: statusField(status, 'VmRSS') ?? 0,
    readSyscalls: io === null ? null : statusField(io, 'syscr'),
    writeSyscalls: io === null ? null : statusField(io, 'syscw'),
    voluntaryContextSwitches: threads.voluntary,
    involuntaryContextSwitches: threads.involuntary,
    runQueueWaitMs: threads.runQueueWaitNs / 1e6,
  };
}

function readOptional(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The number after `name:` in a /proc key-value file (kB units are dropped). */
function statusField(text: string, name: string): number | null {
  const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text);
  return match === null ? null : Number(match[1]);
}

/** /proc/pid/status and schedstat count the main thread only; a JVM does its work on other threads. */
function threadCounters(pid: number): { voluntary: number; involuntary: number; runQueueWaitNs: number } {
  const counters = { voluntary: 0, involuntary: 0, runQueueWaitNs: 0 };
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return counters;
  }
  for (const tid of tasks) {
    const status = readOptional(`/proc/${pid}/task/${tid}/status`);
    const schedstat = readOptional(`/proc/${pid}/task/${tid}/schedstat`);
    if (status === null || schedstat === null) continue; // the thread ended between the listing and the read
    counters.voluntary += statusField(status, 'voluntary_ctxt_switches') ?? 0;
    counters.involuntary += statusField(status, 'nonvoluntary_ctxt_switches') ?? 0;
    // "time on a CPU, time waiting for one (both ns), timeslices"
    counters.runQueueWaitNs += Number(schedstat.split(' ')[1] ?? 0);
  }
  return counters;
}

/** What one process used between two samples: counters as differences, RSS the later sample's. */
export type ProcessUsage = ProcessSample;

export function processUsage(before: ProcessSample, after: ProcessSample): ProcessUsage {
  const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : b - a);
  return {
    pid: after.pid,
    cpuMs: after.cpuMs - before.cpuMs,
    rssKiB: after.rssKiB,
    readSyscalls: diff(before.readSyscalls, after.readSyscalls),
    writeSyscalls: diff(before.writeSyscalls, after.writeSyscalls),
    voluntaryContextSwitches: after.voluntaryContextSwitches - before.voluntaryContextSwitches,
    involuntaryContextSwitches: after.involuntaryContextSwitches - before.involuntaryContextSwitches,
    runQueueWaitMs: after.runQueueWaitMs - before.runQueueWaitMs,
  };
}

/** CPU time of the whole machine, summed over its CPUs (/proc/stat), ms. */
export interface MachineSample {
  busyMs: number;
  totalMs: number;
}

export function sampleMachine(): MachineSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal (guest time is already in user).
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  const toMs = (ticks: number): number => (ticks * 1000) / clockTicksPerSecond;
  return { busyMs: toMs(busy), totalMs: toMs(busy + idle! + iowait!) };
}

/** The share of all CPUs that was busy between two samples, in percent. */
export function machineBusyPercent(before: MachineSample, after: MachineSample): number {
  const total = after.totalMs - before.totalMs;
  return total <= 0 ? 0 : (100 * (after.busyMs - before.busyMs)) / total;
}
