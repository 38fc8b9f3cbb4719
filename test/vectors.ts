import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The golden frames recorded between ZooKeeper 3.8 and real clients (test/fixtures/README.md).

export interface VectorFrame {
  dir: 'c2s' | 's2c';
  conn: number;
  hex: string;
  decoded: any;
}

export interface VectorScenario {
  name: string;
  client: string;
  description: string;
  connections: number;
  events?: { afterFrame: number; conn: number; event: string }[];
  frames: VectorFrame[];
}

export interface VectorFile {
  serverConfig: Record<string, string | number | boolean>;
  scenarios: VectorScenario[];
}

const here = dirname(fileURLToPath(import.meta.url));

export function vectorsPath(): string {
  return resolve(here, 'fixtures/zk38-frames.json');
}

export function loadVectors(): VectorFile {
  return JSON.parse(readFileSync(vectorsPath(), 'utf8')) as VectorFile;
}
