import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface MasterKey {
  id: string;
  key: Buffer;
}

export interface LoadedMasterKey extends MasterKey {
  /** True when this call generated `data/master.key`. */
  created: boolean;
  source: 'env' | 'file';
  file?: string;
}

export function masterKeyId(key: Buffer): string {
  return 'mk_' + crypto.createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/**
 * `COFFER_MASTER_KEY` wins; otherwise `<data dir>/master.key` (mode 0600) is read, or created on first start.
 * Creation uses an exclusive open so two processes starting together cannot write two different keys.
 */
export function loadMasterKey(options: { masterKey: string | null; dataDir: string }): LoadedMasterKey {
  if (options.masterKey) {
    const key = Buffer.from(options.masterKey, 'base64');
    return { id: masterKeyId(key), key, created: false, source: 'env' };
  }
  const file = path.join(options.dataDir, 'master.key');
  fs.mkdirSync(options.dataDir, { recursive: true });
  let created = false;
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    fs.writeSync(fd, crypto.randomBytes(32).toString('base64') + '\n');
    fs.closeSync(fd);
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  return { id: masterKeyId(key), key, created, source: 'file', file };
}
