// What each `zkts bench` workload does. A run works under a root znode of its own: the znodes
// a workload needs are created there before the timed phase, and whatever is under the root
// is deleted after it (both untimed).
import type { BenchSession } from './clients.js';

export const workloadNames = ['create', 'set', 'get', 'exists', 'mixed', 'latency', 'delete'] as const;
export type WorkloadName = (typeof workloadNames)[number];

/** set, get, exists and mixed spread their operations over this many znodes (n, when fewer). */
export const keyCountMax = 1000;

/** In mixed, every tenth operation is a setData, the other nine getData. */
const mixedWriteEvery = 10;

export interface Workload {
  readonly name: WorkloadName;
  readonly summary: string;
  /** latency runs one session with one request outstanding, whatever was asked for. */
  readonly sequential: boolean;
  /** Children of the root created before the timed phase. */
  prepared(n: number): number;
  /** The name of prepared child i (and of the child op i works on, modulo `prepared`). */
  childName(i: number): string;
  /** Operation i of the timed phase. */
  run(session: BenchSession, root: string, i: number, data: Buffer, n: number): Promise<void>;
  isWrite(i: number): boolean;
}

const key = (i: number): string => `k${i}`;
const keyCount = (n: number): number => Math.min(n, keyCountMax);

type KeyedOp = (s: BenchSession, path: string, data: Buffer) => Promise<void>;

/** A workload on prepared znodes: operation i works on znode i modulo their count. */
function keyed(name: WorkloadName, summary: string, isWrite: (i: number) => boolean, write: KeyedOp, read: KeyedOp): Workload {
  return {
    name,
    summary,
    sequential: false,
    prepared: keyCount,
    childName: key,
    run: (s, root, i, data, n) => (isWrite(i) ? write : read)(s, `${root}/${key(i % keyCount(n))}`, data),
    isWrite,
  };
}

const setData: KeyedOp = (s, path, data) => s.setData(path, data);
const getData: KeyedOp = (s, path) => s.getData(path);
const exists: KeyedOp = (s, path) => s.exists(path);

const created = (i: number): string => `c${i}`;

function creates(name: WorkloadName, summary: string, sequential: boolean): Workload {
  return {
    name,
    summary,
    sequential,
    prepared: () => 0,
    childName: created,
    run: (s, root, i, data) => s.create(`${root}/${created(i)}`, data),
    isWrite: () => true,
  };
}

const workloads: Record<WorkloadName, Workload> = {
  create: creates('create', 'create n new persistent znodes', false),
  set: keyed('set', `setData on ${keyCountMax} prepared znodes in turn`, () => true, setData, getData),
  get: keyed('get', `getData on ${keyCountMax} prepared znodes in turn`, () => false, setData, getData),
  exists: keyed('exists', `exists on ${keyCountMax} prepared znodes in turn`, () => false, setData, exists),
  mixed: keyed(
    'mixed',
    `getData (9 in 10) and setData (1 in 10) on ${keyCountMax} prepared znodes in turn`,
    (i) => i % mixedWriteEvery === mixedWriteEvery - 1,
    setData,
    getData,
  ),
  latency: creates('latency', 'create n new znodes one after another: one session, one request outstanding', true),
  delete: {
    name: 'delete',
    summary: 'delete n prepared znodes',
    sequential: false,
    prepared: (n) => n,
    childName: (i) => `d${i}`,
    run: (s, root, i) => s.delete(`${root}/d${i}`),
    isWrite: () => true,
  },
};

export function workload(name: WorkloadName): Workload {
  return workloads[name];
}
