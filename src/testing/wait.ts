// Waiting on conditions with deadlines: the one waitFor of the project, its tests and
// `zkts/testing`. Every deadline passes through `scaled`, so a slow or loaded machine makes a
// suite slower rather than red: set ZKTS_TEST_TIME_FACTOR=3 and every deadline is tripled.

/** The factor every test deadline is multiplied by (ZKTS_TEST_TIME_FACTOR, default 1). */
export const timeFactor: number = parseTimeFactor(process.env.ZKTS_TEST_TIME_FACTOR);

function parseTimeFactor(text: string | undefined): number {
  if (text === undefined || text.trim() === '') return 1;
  const factor = Number(text);
  if (!Number.isFinite(factor) || factor < 1 || factor > 100) {
    throw new RangeError(`ZKTS_TEST_TIME_FACTOR must be a number from 1 to 100, not '${text}'`);
  }
  return factor;
}

/** A deadline of `ms` on a normal machine, stretched by the time factor. */
export function scaled(ms: number): number {
  return Math.round(ms * timeFactor);
}

export interface WaitOptions {
  /** Deadline on a normal machine (scaled by the time factor); default 10 s. */
  timeoutMs?: number;
  /** Polling period; the condition, not the period, decides when the wait ends. */
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined, null or false, and resolves
 * with that; a probe that throws counts as not yet (its last error is reported). Rejects, naming
 * `what`, once the scaled deadline has passed.
 */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, options: WaitOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = scaled(options.timeoutMs ?? 10_000);
  const intervalMs = options.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Rejects, naming `what`, when `promise` has not settled within the scaled deadline. */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const ms = scaled(timeoutMs);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
