/**
 * How a zkts server process is started. The launcher (member-process.ts, so `zkts cluster`,
 * zkts/testing and the benchmarks) spawns members with these; the `zkts` command's shebang
 * and the Dockerfile carry the same, and test/testing/server-process.test.ts holds them in step.
 *
 * glibc malloc raises its mmap threshold every time a large block is freed, after which big
 * buffers (socket reads, snapshot frames, the tree's columns as they grow) come from the heap
 * and their freed space is kept by the process. Fixing the thresholds hands it back to the OS
 * at the same throughput.
 */
export const serverProcessEnv: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/**
 * Node's young generation grows to two 16 MiB semi-spaces under load and keeps them resident
 * while idle. Half that is where the CPU per write stays within the run-to-run noise; smaller
 * spaces promote in-flight requests and cost more (README, Performance).
 */
export const serverNodeArgs: readonly string[] = ['--max-semi-space-size=8'];
