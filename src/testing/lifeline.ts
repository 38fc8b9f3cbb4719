// No member process may outlive the process that launched it, even one killed with SIGKILL.
//
// A running member has its own lifeline: its IPC channel to the launcher closes when the
// launcher dies, and it stops (src/cli/server.ts). A paused member (SIGSTOP) cannot notice
// anything, and a member busy for long notices late, so a watchdog covers them: a tiny shell
// process that reads member pids from a pipe and, when the pipe closes (the launcher is gone,
// however it died), sends SIGKILL to every pid still listed. A normal exit of the launcher
// kills the members directly.
import { spawn, type ChildProcess } from 'node:child_process';

// `+pid` adds a member, `-pid` removes one that exited; at end of input every listed pid is killed.
const watchdogScript = [
  'pids=""',
  'while read -r line; do',
  '  case "$line" in',
  '    +*) pids="$pids ${line#+}" ;;',
  '    -*) keep=""; for p in $pids; do [ "$p" = "${line#-}" ] || keep="$keep $p"; done; pids="$keep" ;;',
  '  esac',
  'done',
  'for p in $pids; do kill -KILL "$p" 2>/dev/null; done',
].join('\n');

let watchdog: ChildProcess | null = null;
const members = new Set<ChildProcess>();

function ensureWatchdog(): ChildProcess {
  if (watchdog !== null && watchdog.exitCode === null) return watchdog;
  const child = spawn('/bin/sh', ['-c', watchdogScript], { stdio: ['pipe', 'ignore', 'ignore'], detached: false });
  child.unref();
  child.stdin!.on('error', () => undefined);
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  for (const member of members) if (member.pid !== undefined) child.stdin!.write(`+${member.pid}\n`);
  watchdog = child;
  return child;
}

let exitHookInstalled = false;

/** Puts a member process under the lifeline until it exits. */
export function guard(member: ChildProcess): void {
  if (member.pid === undefined) return;
  const pid = member.pid;
  members.add(member);
  ensureWatchdog().stdin!.write(`+${pid}\n`);
  member.once('exit', () => {
    members.delete(member);
    if (watchdog?.exitCode === null) watchdog.stdin!.write(`-${pid}\n`);
  });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const m of members) m.kill('SIGKILL');
    });
  }
}
