// The path rules are the protocol's (src/protocol/validate.ts): one definition for the request
// validator and for applying txns.
export { builtInPaths, pathProblem } from '../protocol/validate.js';

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
