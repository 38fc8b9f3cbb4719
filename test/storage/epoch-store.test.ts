import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvariantError, StorageError } from '../../src/errors.js';
import { EpochStore } from '../../src/storage/epoch-store.js';
import { FaultFs } from '../../src/storage/fault-fs.js';
import { captureLogger, tempDir } from './helpers.js';

async function openEpochs(dir: string, fs?: FaultFs, missingEpoch?: number): Promise<EpochStore> {
  return EpochStore.open({ dir, log: captureLogger().log, fs, missingEpoch });
}

describe('EpochStore', () => {
  it('reads missing files as 0, or as the value given', async () => {
    const dir = await tempDir();
    const epochs = await openEpochs(dir);
    expect([epochs.acceptedEpoch, epochs.currentEpoch]).toEqual([0, 0]);
    const told = await openEpochs(dir, undefined, 4);
    expect([told.acceptedEpoch, told.currentEpoch]).toEqual([4, 4]);
  });

  it('writes both epochs as decimal text that survives a reopen', async () => {
    const dir = await tempDir();
    const epochs = await openEpochs(dir);
    await epochs.setAcceptedEpoch(7);
    await epochs.setCurrentEpoch(6);
    expect(await readFile(join(dir, 'acceptedEpoch'), 'utf8')).toBe('7\n');
    const reopened = await openEpochs(dir);
    expect([reopened.acceptedEpoch, reopened.currentEpoch]).toEqual([7, 6]);
  });

  it('never goes back', async () => {
    const dir = await tempDir();
    const epochs = await openEpochs(dir);
    await epochs.setAcceptedEpoch(3);
    await expect(epochs.setAcceptedEpoch(2)).rejects.toBeInstanceOf(InvariantError);
  });

  it('a garbled file is refused with its name', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'currentEpoch'), 'x1\n');
    await expect(openEpochs(dir)).rejects.toMatchObject({ name: 'StorageError', file: join(dir, 'currentEpoch') });
    await expect(openEpochs(dir)).rejects.toBeInstanceOf(StorageError);
  });

  it.each(['write', 'sync', 'rename', 'syncDir'] as const)('a crash at %s leaves the old epoch or the new one, never a torn file', async (op) => {
    const dir = await tempDir();
    const epochs = await openEpochs(dir);
    await epochs.setAcceptedEpoch(41);
    const faults = new FaultFs();
    const faulty = await openEpochs(dir, faults);
    faults.failNext(op);
    await expect(faulty.setAcceptedEpoch(123456)).rejects.toThrow(/injected/);
    await faults.crash({ keepUnsyncedBytes: (_path, bytes) => Math.floor(bytes / 2) });
    const after = await openEpochs(dir);
    expect(after.acceptedEpoch).toBe(41);
  });

  it('once set returns, a crash keeps the new epoch', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const epochs = await openEpochs(dir, faults);
    await epochs.setCurrentEpoch(5);
    await faults.crash();
    expect((await openEpochs(dir)).currentEpoch).toBe(5);
  });
});
