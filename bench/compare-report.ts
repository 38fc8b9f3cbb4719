// Collects the figures of `npm run bench:compare` and prints them as tables: for each figure,
// each side's median with its min and max, and the ratio zkts/ZooKeeper.
import { median, spread, type Spread } from '../src/bench/stats.js';

/** Which way is better for a figure; printed next to it so a ratio reads at a glance. */
export type Better = 'higher' | 'lower' | 'neither';

interface Row {
  label: string;
  better: Better;
  digits: number;
  zkts: number[];
  zookeeper: number[];
  /** zkts / ZooKeeper per pair (runs made one after the other); empty when the figure has no pairs. */
  ratios: number[];
}

/** Figures of one phase, in the order they were first recorded. */
export class FigureTable {
  private readonly rows = new Map<string, Row>();

  constructor(readonly title: string) {}

  private row(label: string, better: Better, digits: number): Row {
    let row = this.rows.get(label);
    if (row === undefined) {
      row = { label, better, digits, zkts: [], zookeeper: [], ratios: [] };
      this.rows.set(label, row);
    }
    return row;
  }

  /** One zkts run and the ZooKeeper run made next to it. */
  addPair(label: string, better: Better, digits: number, zkts: number, zookeeper: number): void {
    const row = this.row(label, better, digits);
    row.zkts.push(zkts);
    row.zookeeper.push(zookeeper);
    if (zookeeper !== 0 && Number.isFinite(zkts) && Number.isFinite(zookeeper)) row.ratios.push(zkts / zookeeper);
  }

  /** Values not made in pairs (one per member, say): the ratio is then that of the medians. */
  addUnpaired(label: string, better: Better, digits: number, zkts: number[], zookeeper: number[]): void {
    const row = this.row(label, better, digits);
    row.zkts.push(...zkts);
    row.zookeeper.push(...zookeeper);
  }

  get empty(): boolean {
    return this.rows.size === 0;
  }

  format(): string {
    const header = ['figure', 'zkts median [min-max]', 'ZooKeeper median [min-max]', 'zkts/ZK [min-max]', 'better'];
    const lines = [...this.rows.values()].map((r) => [r.label, cell(spread(r.zkts), r.digits), cell(spread(r.zookeeper), r.digits), ratioCell(r), r.better]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const render = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
    return [`${this.title}`, render(header), ...lines.map(render)].join('\n');
  }
}

function number(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(s: Spread, digits: number): string {
  if (s.count === 0) return '-';
  if (s.count === 1) return number(s.median, digits);
  return `${number(s.median, digits)} [${number(s.min, digits)}-${number(s.max, digits)}]`;
}

function ratioCell(r: Row): string {
  if (r.ratios.length > 0) {
    const s = spread(r.ratios);
    return s.count === 1 ? number(s.median, 2) : `${number(s.median, 2)} [${number(s.min, 2)}-${number(s.max, 2)}]`;
  }
  const z = median(r.zookeeper);
  return r.zkts.length > 0 && z !== 0 && Number.isFinite(z) ? `${number(median(r.zkts) / z, 2)} (medians)` : '-';
}
