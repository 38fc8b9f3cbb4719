#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=8
// The malloc settings and node flag are src/testing/server-process.ts's (why: see there).
// Entry point of the `zkts` command; the compiled CLI lives in dist/.
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2), process.env).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`zkts: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
