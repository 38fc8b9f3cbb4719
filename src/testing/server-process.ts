/**
 * How a zkts server process is started: the `zkts` command's shebang sets the same (keep
 * them in step), and the launcher (member-process.ts) and the benchmarks spawn members with
 * these.
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
