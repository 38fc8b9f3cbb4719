import { ZkError } from '../errors.js';
import { ErrorCode } from '../protocol/constants.js';

/** Why a path is not a valid znode path, or null when it is (docs/protocol.md 12.1). One pass, no allocation. */
export function pathProblem(path: string): string | null {
  const n = path.length;
  if (n === 0) return 'path must not be empty';
  if (path.charCodeAt(0) !== 47) return 'path must start with /';
  if (n === 1) return null;
  if (path.charCodeAt(n - 1) === 47) return 'path must not end with /';
  let segmentStart = 1;
  for (let i = 1; i <= n; i++) {
    const c = i < n ? path.charCodeAt(i) : 47;
    if (c === 47) {
      const len = i - segmentStart;
      if (len === 0) return `empty segment at offset ${i}`;
      if (len <= 2 && path.charCodeAt(segmentStart) === 46 && (len === 1 || path.charCodeAt(segmentStart + 1) === 46)) {
        return `relative segment '${path.slice(segmentStart, i)}' at offset ${segmentStart}`;
      }
      segmentStart = i + 1;
      continue;
    }
    if (c === 0) return `null character at index ${i}`;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || c >= 0xfff0) {
      return `invalid character U+${c.toString(16).padStart(4, '0')} at index ${i}`;
    }
  }
  return null;
}

export function validatePath(path: string): void {
  const problem = pathProblem(path);
  if (problem !== null) throw new ZkError(ErrorCode.BADARGUMENTS, `invalid path '${path}': ${problem}`);
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

/** The four nodes every server has, which no client may delete. */
export const builtInPaths: ReadonlySet<string> = new Set(['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config']);
