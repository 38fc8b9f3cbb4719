import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFs } from '../../src/storage/fs.js';
import { tempDir } from './helpers.js';

const openFds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;

describe('the real file system (NodeFs)', () => {
  it('writevDurable writes every buffer back to back at the position, and close releases its extra handle', async () => {
    const dir = await tempDir();
    const path = join(dir, 'file');
    const fdsBefore = await openFds();
    const file = await nodeFs.open(path, 'createExclusive');
    await file.write(Buffer.from('0123456789'), 0);
    await file.writevDurable([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cd')], 3);
    await file.writevDurable([Buffer.from('XY')], 10);
    expect(await file.size()).toBe(12);
    const seen = Buffer.alloc(12);
    expect(await file.read(seen, 0)).toBe(12);
    expect(seen.toString()).toBe('012abcd789XY');
    expect(await openFds()).toBe(fdsBefore + 2);
    await file.close();
    expect(await openFds()).toBe(fdsBefore);
    expect((await readFile(path)).toString()).toBe('012abcd789XY');
  });

  it('writevDurableSync writes on the calling thread once writevDurable has opened the O_DSYNC handle, and not before', async () => {
    const dir = await tempDir();
    const path = join(dir, 'file');
    const file = await nodeFs.open(path, 'createExclusive');
    expect(file.writevDurableSync!([Buffer.from('no')], 0)).toBe(false);
    expect(await file.size()).toBe(0);
    await file.writevDurable([Buffer.from('0123456789')], 0);
    expect(file.writevDurableSync!([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cd')], 3)).toBe(true);
    expect((await readFile(path)).toString()).toBe('012abcd789');
    await file.close();
    expect(file.writevDurableSync!([Buffer.from('XY')], 0)).toBe(false);
    expect((await readFile(path)).toString()).toBe('012abcd789');
  });
});
