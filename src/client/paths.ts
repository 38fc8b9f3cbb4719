import { ZkError } from '../errors.js';
import { ErrorCode } from '../protocol/constants.js';

/**
 * Client-side path check, the rules of ZooKeeper's PathUtils.validatePath (docs/protocol.md 12.1).
 * A sequential create may end in '/' (the server appends the counter).
 */
export function validatePath(path: string, sequential = false): void {
  const reason = pathProblem(path, sequential);
  if (reason !== null) throw new ZkError(ErrorCode.BADARGUMENTS, `Invalid path '${path}': ${reason}`);
}

function pathProblem(path: string, sequential: boolean): string | null {
  if (typeof path !== 'string' || path.length === 0) return 'path must not be empty';
  if (path.charCodeAt(0) !== slash) return 'path must start with /';
  const length = path.length;
  if (length === 1) return null;
  const trailingSlash = path.charCodeAt(length - 1) === slash;
  if (trailingSlash && !sequential) return 'path must not end with /';
  // Names, without a split: every create goes through here.
  const end = trailingSlash ? length - 1 : length;
  let start = 1;
  for (let i = 1; i <= end; i++) {
    if (i < end && path.charCodeAt(i) !== slash) continue;
    const n = i - start;
    if (n === 0) return 'empty node name';
    if (path.charCodeAt(start) === dot && (n === 1 || (n === 2 && path.charCodeAt(start + 1) === dot))) return `relative node name '${path.slice(start, i)}'`;
    start = i + 1;
  }
  for (let i = 0; i < length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0) return `null character at index ${i}`;
    if ((c > 0 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || c >= 0xfff0) {
      return `invalid character at index ${i}`;
    }
  }
  return null;
}

const slash = 47;
const dot = 46;

/** Adds the chroot to a client path: what the server sees. */
export function toServerPath(chroot: string, path: string): string {
  if (chroot === '') return path;
  return path === '/' ? chroot : chroot + path;
}

/** Removes the chroot from a server path: what the user sees. Paths outside the chroot are kept. */
export function toClientPath(chroot: string, serverPath: string): string {
  if (chroot === '') return serverPath;
  if (serverPath === chroot) return '/';
  if (serverPath.startsWith(chroot + '/')) return serverPath.slice(chroot.length);
  return serverPath;
}

/** '/a/b' -> '/a'; '/a' -> '/'; '/' -> null. */
export function parentPath(path: string): string | null {
  if (path === '/') return null;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function joinPath(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}
