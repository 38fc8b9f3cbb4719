export { runShell, type ShellIO } from './shell.js';
