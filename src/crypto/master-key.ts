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
 */
export function loadMasterKey(options: { masterKey: string | null; dataDir: string }): LoadedMasterKey {
  if (options.masterKey) {
    const key = Buffer.from(options.masterKey, 'base64');
    return { id: masterKeyId(key), key, created: false, source: 'env' };
  }
  const file = path.join(options.dataDir, 'master.key');
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  let created = false;
  if (!fs.existsSync(file)) {
    // Written whole to a temporary file, then linked into place: a process starting at the same moment either wins
    // the link or reads the complete key of the one that did, never a half-written file.
    const temporary = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(temporary, crypto.randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(temporary, file);
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      fs.unlinkSync(temporary);
    }
  }
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  return { id: masterKeyId(key), key, created, source: 'file', file };
}
