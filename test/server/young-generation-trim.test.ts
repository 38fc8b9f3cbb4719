// The idle trim of the young generation, on this test process's own V8 heap: a load grows the
// semi-spaces, and once the process falls quiet they are given back; while there is load
// nothing is collected.
import v8 from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { startYoungGenerationTrim, type YoungGenerationTrimOptions } from '../../src/server/young-generation-trim.js';
import { waitFor } from '../../src/testing/wait.js';
import { captureLogger } from '../storage/helpers.js';

const options: YoungGenerationTrimOptions = { checkIntervalMs: 100, idleUtilizationMax: 0.02, residentBytesMin: 4 * 1024 * 1024 };

const youngResidentBytes = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.physical_space_size;

/** Allocates objects that survive a scavenge or two until the young generation holds more than `bytes`. */
function growYoungGeneration(bytes: number): void {
  let live: { n: number; s: string }[] = [];
  for (let i = 0; youngResidentBytes() <= bytes; i++) {
    live.push({ n: i, s: `v${i}` });
    if (live.length > 100_000) live = [];
    if (i > 50_000_000) throw new Error(`the young generation did not grow past ${bytes} bytes`);
  }
}

describe('young generation trim', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('gives back a grown young generation once the process is idle, and says so', async () => {
    growYoungGeneration(2 * options.residentBytesMin);
    const { log, lines } = captureLogger();
    const trim = startYoungGenerationTrim(log, options);
    expect(trim).not.toBeNull();
    stop = trim!.stop;
    const line = await waitFor('a trim', () => lines.find((l) => l.msg === 'young generation trimmed' && (l.residentBytesAfter as number) <= options.residentBytesMin));
    expect(line.residentBytes as number).toBeGreaterThan(options.residentBytesMin);
    expect(youngResidentBytes()).toBeLessThanOrEqual(options.residentBytesMin);
  });

  it('collects nothing while the event loop is busy', async () => {
    const { log, lines } = captureLogger();
    const trim = startYoungGenerationTrim(log, options);
    stop = trim!.stop;
    // Ten check periods of a loop busy most of the time, the young generation grown throughout.
    const until = performance.now() + 10 * options.checkIntervalMs;
    while (performance.now() < until) {
      growYoungGeneration(2 * options.residentBytesMin);
      const sliceEnd = performance.now() + 40;
      while (performance.now() < sliceEnd);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(youngResidentBytes()).toBeGreaterThan(options.residentBytesMin);
    expect(lines.filter((l) => l.msg === 'young generation trimmed')).toEqual([]);
  });
});
