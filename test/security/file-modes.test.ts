// Issue 11, finding 6: what Coffer creates on disk is readable by its own user only — the data directory 0700, the
// database with its -wal/-shm files and the generated master key 0600 — whatever the umask of the shell that started it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoffer, type TestCoffer } from '../support/coffer.js';
import { okJson } from '../support/envelope.js';

const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe('files Coffer creates (sqlite)', () => {
  let parent: string;
  let dataDir: string;
  let coffer: TestCoffer;
  let umask: number;

  beforeAll(async () => {
    // A permissive umask, as a shell might have: the modes must not depend on it.
    umask = process.umask(0o002);
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-modes-'));
    dataDir = path.join(parent, 'data', 'nested');
    coffer = await startCoffer('sqlite', { COFFER_DATA_DIR: dataDir, COFFER_MASTER_KEY: '' });
    // A write, so the WAL and its index exist while the server runs.
    await okJson(
      await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, {
        method: 'PATCH',
        headers: { ...coffer.headers('modes'), 'content-type': 'application/json' },
        body: JSON.stringify({ settings: { api_key: 'modes-key' } }),
      }),
    );
  });
  afterAll(async () => {
    await coffer?.close();
    process.umask(umask);
    if (parent) fs.rmSync(parent, { recursive: true, force: true });
  });

  it('the data directory (and the ones made for it) are 0700', () => {
    expect(mode(dataDir).toString(8)).toBe('700');
    expect(mode(path.dirname(dataDir)).toString(8)).toBe('700');
  });

  it('the database, its WAL and shared-memory files and the generated master key are 0600', () => {
    for (const name of ['coffer.db', 'coffer.db-wal', 'coffer.db-shm', 'master.key']) {
      const file = path.join(dataDir, name);
      expect(fs.existsSync(file), name).toBe(true);
      expect(`${name} ${mode(file).toString(8)}`).toBe(`${name} 600`);
    }
  });
});
