import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// A user's clone has nothing beside it: no file the code, tests, benchmarks or scripts read may
// live outside the repository (the golden frames once came from a folder beside it).
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scanned = ['src', 'test', 'bench', 'examples', 'scripts', 'conf', '.ci', 'package.json', 'vitest.config.ts', 'tsconfig.json', 'tsconfig.test.json', 'Dockerfile', 'docker-compose.yml'];
const textFile = /\.(ts|js|mjs|cjs|json|py|java|sh|cfg|yml|yaml)$|^(run|Dockerfile)$/;

/** Where a file's relative paths are taken from when it runs: src/ and bench/ run compiled, from dist/. */
function runDirs(relFile: string): string[] {
  const dir = path.dirname(path.join(repoRoot, relFile));
  return /^(src|bench)\//.test(relFile) ? [dir, path.join(repoRoot, 'dist', path.dirname(relFile))] : [dir];
}

const outside = (p: string) => path.relative(repoRoot, p).startsWith('..') || path.isAbsolute(path.relative(repoRoot, p));

/** What in one file names a place outside the repository, as `line: text` strings. */
export function outsideReferences(relFile: string, text: string): string[] {
  const found: string[] = [];
  const dirs = runDirs(relFile);
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const at = (what: string) => found.push(`${relFile}:${i + 1}: ${what}`);
    if (/(^|[^\w.])\.\.\/shared\b|\bshared\/(vectors|DESIGN|PROTOCOL|REVIEW|STYLE)\b/.test(line)) at(line.trim());
    for (const m of line.matchAll(/['"`](\/(?:work|home|Users)\/[^'"`\s]*)/g)) at(m[1]!);
    // Relative path literals ('../x', './y'), outside from every place the file runs.
    for (const m of line.matchAll(/['"`]((?:\.\.?\/)+[^'"`\s$]*)['"`]/g)) {
      if (dirs.every((d) => outside(path.resolve(d, m[1]!)))) at(m[1]!);
    }
    // path.join/resolve from the repository root or the file's own folder with literal segments.
    for (const m of line.matchAll(/path\.(?:join|resolve)\(\s*(repoRoot|here|__dirname)\s*((?:,\s*'[^']*'\s*)+)\)/g)) {
      const segments = [...m[2]!.matchAll(/'([^']*)'/g)].map((s) => s[1]!);
      const starts = m[1] === 'repoRoot' ? [repoRoot] : dirs;
      if (starts.every((s) => outside(path.resolve(s, ...segments)))) at(m[0]);
    }
  });
  return found;
}

function* files(rel: string): Generator<string> {
  const full = path.join(repoRoot, rel);
  let stat;
  try {
    stat = statSync(full);
  } catch {
    return;
  }
  if (stat.isFile()) {
    if (textFile.test(path.basename(rel))) yield rel;
    return;
  }
  for (const entry of readdirSync(full)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    yield* files(path.join(rel, entry));
  }
}

describe('the repository reads nothing outside itself', () => {
  it('finds the kinds of reference it looks for', () => {
    expect(outsideReferences('test/protocol/x.test.ts', "const dir = path.join(repoRoot, '..', 'frames');")).toHaveLength(1);
    // Built here, so that this file does not itself name the folder beside the repository.
    expect(outsideReferences('test/protocol/x.test.ts', 'const dir = `${root}/' + '..' + '/shared/vectors`;')).toHaveLength(1);
    expect(outsideReferences('test/x.test.ts', "readFileSync(new URL('../../notes.md', import.meta.url))")).toHaveLength(1);
    expect(outsideReferences('bench/x.ts', "const f = '/work/data/frames.json';")).toHaveLength(1);
    expect(outsideReferences('src/a/b.ts', "import x from '../../protocol/y.js'; const r = path.resolve(here, '..', '..');")).toEqual([]);
  });

  it('in src, test, bench, examples, scripts, conf and CI', () => {
    const self = path.relative(repoRoot, fileURLToPath(import.meta.url));
    const all = scanned.flatMap((top) => [...files(top)]).filter((f) => f !== self);
    expect(all.length).toBeGreaterThan(100);
    const hits = all.flatMap((f) => outsideReferences(f, readFileSync(path.join(repoRoot, f), 'utf8')));
    expect(hits).toEqual([]);
  });
});
