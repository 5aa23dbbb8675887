// Keyring, AEAD and master key against a real SQLite store in a temp dir.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { decrypt, DecryptionError, encrypt } from '../../src/crypto/aead.js';
import { Keyring, type SealContext } from '../../src/crypto/keyring.js';
import { loadMasterKey, masterKeyId, type MasterKey } from '../../src/crypto/master-key.js';
import { migrate, openStore, type Store } from '../../src/store/database.js';

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-keyring-'));
  tempDirs.push(dir);
  return dir;
}

function newMaster(): MasterKey {
  const key = crypto.randomBytes(32);
  return { id: masterKeyId(key), key };
}

/** Flips one bit of the decoded byte at `index` of a base64url string. */
function flipBit(text: string, index: number): string {
  const bytes = Buffer.from(text, 'base64url');
  bytes[index] ^= 0x01;
  return bytes.toString('base64url');
}

async function expectDecryptionError(promise: Promise<unknown>, message?: RegExp): Promise<DecryptionError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DecryptionError);
  if (message) expect((error as Error).message).toMatch(message);
  return error as DecryptionError;
}

let store: Store;
let master: MasterKey;
let keyring: Keyring;

async function addApplication(id: string): Promise<void> {
  const now = Date.now();
  await store.db.insertInto('applications').values({ id, name: id, redirect_uris: '[]', created_at: now, updated_at: now }).execute();
}

beforeAll(async () => {
  store = openStore({ dataDir: tempDir(), databaseUrl: null });
  await migrate(store);
  master = newMaster();
  keyring = new Keyring(store.db, [master]);
  await addApplication('app_a');
  await addApplication('app_b');
  await keyring.createDataKey('app_a');
  await keyring.createDataKey('app_b');
});

afterAll(async () => {
  await store?.close();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const here: SealContext = { applicationId: 'app_a', ownerId: 'conn_1', field: 'credentials' };

describe('seal / open', () => {
  it('round-trips a value, with a fresh nonce each time', async () => {
    const secret = `s3cret-${crypto.randomBytes(8).toString('hex')}-ünïcødé`;
    const a = await keyring.seal(here, secret);
    const b = await keyring.seal(here, secret);
    expect(a).not.toBe(b);
    expect(a).not.toContain(secret);
    expect(a).toMatch(/^v1\.dk_[0-9a-f]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(await keyring.open(here, a)).toBe(secret);
    expect(await keyring.open(here, b)).toBe(secret);
  });

  it('round-trips JSON and opens with a fresh keyring that only has the master key (data key read from the DB)', async () => {
    const value = { access_token: 'at-' + crypto.randomUUID(), refresh_token: 'rt-' + crypto.randomUUID() };
    const sealed = await keyring.sealJson(here, value);
    const fresh = new Keyring(store.db, [master]);
    expect(await fresh.openJson(here, sealed, null)).toEqual(value);
    expect(await fresh.openJson(here, null, 'fallback')).toBe('fallback');
  });

  it('binds the ciphertext to its row, field and application (AAD)', async () => {
    const sealed = await keyring.seal(here, 'bound-value');
    const fresh = new Keyring(store.db, [master]);
    for (const ring of [keyring, fresh]) {
      await expectDecryptionError(ring.open({ ...here, ownerId: 'conn_2' }, sealed));
      await expectDecryptionError(ring.open({ ...here, field: 'settings' }, sealed));
      await expectDecryptionError(ring.open({ ...here, applicationId: 'app_b' }, sealed));
      expect(await ring.open(here, sealed)).toBe('bound-value');
    }
  });

  it('a sealed value copied to another row in the database does not open there', async () => {
    const now = Date.now();
    await store.db
      .insertInto('app_connectors')
      .values([
        { application_id: 'app_a', service_id: 'hubspot', enabled: 1, client_sealed: null, scopes: null, created_at: now, updated_at: now },
        { application_id: 'app_a', service_id: 'salesforce', enabled: 1, client_sealed: null, scopes: null, created_at: now, updated_at: now },
        { application_id: 'app_b', service_id: 'hubspot', enabled: 1, client_sealed: null, scopes: null, created_at: now, updated_at: now },
      ])
      .execute();
    const ctx = (applicationId: string, serviceId: string): SealContext => ({ applicationId, ownerId: serviceId, field: 'oauth_client' });
    const sealed = await keyring.sealJson(ctx('app_a', 'hubspot'), { client_id: 'cid', client_secret: 'csecret' });
    await store.db.updateTable('app_connectors').set({ client_sealed: sealed }).where('application_id', '=', 'app_a').where('service_id', '=', 'hubspot').execute();
    // An attacker with database access copies the row's ciphertext to another row of the same and of another tenant.
    await store.db.updateTable('app_connectors').set({ client_sealed: sealed }).where('service_id', '!=', 'zzz').execute();

    const fresh = new Keyring(store.db, [master]);
    const read = async (applicationId: string, serviceId: string) => {
      const row = await store.db
        .selectFrom('app_connectors')
        .select('client_sealed')
        .where('application_id', '=', applicationId)
        .where('service_id', '=', serviceId)
        .executeTakeFirstOrThrow();
      return fresh.openJson(ctx(applicationId, serviceId), row.client_sealed, null);
    };
    expect(await read('app_a', 'hubspot')).toEqual({ client_id: 'cid', client_secret: 'csecret' });
    await expectDecryptionError(read('app_a', 'salesforce'));
    await expectDecryptionError(read('app_b', 'hubspot'));
  });

  it('rejects tampered and malformed ciphertexts', async () => {
    const sealed = await keyring.seal(here, 'tamper-me');
    const [version, keyId, nonce, body] = sealed.split('.');
    const variants = [
      [version, keyId, nonce, flipBit(body, 0)].join('.'), // ciphertext byte
      [version, keyId, nonce, flipBit(body, Buffer.from(body, 'base64url').length - 1)].join('.'), // tag byte
      [version, keyId, flipBit(nonce, 3), body].join('.'), // nonce
      [version, keyId, nonce, body.slice(0, -4)].join('.'), // truncated
      [version, keyId, nonce].join('.'),
      ['v2', keyId, nonce, body].join('.'),
      'not a sealed value',
      '',
    ];
    for (const variant of variants) await expectDecryptionError(keyring.open(here, variant));
    expect(await keyring.open(here, sealed)).toBe('tamper-me');
  });

  it('a data key id that does not exist fails with DecryptionError', async () => {
    const sealed = await keyring.seal(here, 'x');
    const parts = sealed.split('.');
    parts[1] = 'dk_0000000000000000';
    await expectDecryptionError(keyring.open(here, parts.join('.')), /unknown data key/);
  });

  it('the low-level AEAD rejects a wrong key and a wrong AAD', () => {
    const key = crypto.randomBytes(32);
    const sealed = encrypt(key, Buffer.from('plain'), 'aad-1');
    expect(decrypt(key, sealed, 'aad-1').toString()).toBe('plain');
    expect(() => decrypt(key, sealed, 'aad-2')).toThrow(DecryptionError);
    expect(() => decrypt(crypto.randomBytes(32), sealed, 'aad-1')).toThrow(DecryptionError);
  });
});

describe('master keys and data keys', () => {
  it('a data key wrapped by a master key that is not loaded fails with a clear error; loading it again works', async () => {
    await addApplication('app_old');
    const oldMaster = newMaster();
    const oldRing = new Keyring(store.db, [oldMaster]);
    const ctx: SealContext = { applicationId: 'app_old', ownerId: 'conn_9', field: 'credentials' };
    const sealed = await oldRing.seal(ctx, 'written-before-rotation');
    const dataKeyId = sealed.split('.')[1];

    const otherMaster = newMaster();
    const error = await expectDecryptionError(new Keyring(store.db, [otherMaster]).open(ctx, sealed));
    expect(error.message).toContain(dataKeyId);
    expect(error.message).toContain(oldMaster.id);
    expect(error.message).toMatch(/not loaded/);

    // After a rotation the old master is kept for reading.
    const rotated = new Keyring(store.db, [otherMaster, oldMaster]);
    expect(rotated.masterKeyId).toBe(otherMaster.id);
    expect(await rotated.open(ctx, sealed)).toBe('written-before-rotation');
  });

  it('a master key with the right id but the wrong bytes cannot unwrap the data key', async () => {
    const impostor: MasterKey = { id: master.id, key: crypto.randomBytes(32) };
    await expectDecryptionError(new Keyring(store.db, [impostor]).open(here, await keyring.seal(here, 'x')));
  });

  it('stores data keys wrapped, never in the clear', async () => {
    const rows = await store.db.selectFrom('data_keys').selectAll().where('application_id', '=', 'app_a').execute();
    expect(rows.filter((r) => r.active === 1)).toHaveLength(1);
    for (const row of rows) {
      expect(row.master_key_id).toBe(master.id);
      // 12-byte nonce + 32-byte key + 16-byte tag
      const [nonce, body] = row.wrapped.split('.');
      expect(Buffer.from(nonce, 'base64url')).toHaveLength(12);
      expect(Buffer.from(body, 'base64url')).toHaveLength(48);
    }
  });

  it('a data key of one application does not open another application’s values', async () => {
    const sealedForA = await keyring.seal(here, 'a-only');
    const keyOfA = sealedForA.split('.')[1];
    const sealedForB = await keyring.seal({ ...here, applicationId: 'app_b' }, 'b-only');
    const forged = ['v1', keyOfA, ...sealedForB.split('.').slice(2)].join('.');
    await expectDecryptionError(keyring.open({ ...here, applicationId: 'app_b' }, forged));
    await expectDecryptionError(new Keyring(store.db, [master]).open({ ...here, applicationId: 'app_b' }, forged));
  });
});

describe('API key hashes', () => {
  it('are deterministic HMAC-SHA256 values under a key derived from the master key', () => {
    const apiKey = 'cof_' + crypto.randomBytes(32).toString('base64url');
    const h1 = keyring.hashApiKey(apiKey);
    expect(keyring.hashApiKey(apiKey)).toBe(h1);
    expect(new Keyring(store.db, [master]).hashApiKey(apiKey)).toBe(h1);
    expect(h1).toBe(crypto.createHmac('sha256', keyring.apiKeyHmacKey).update(apiKey).digest('base64url'));
    expect(Buffer.from(h1, 'base64url')).toHaveLength(32);
    // Not a bare hash, and not keyed by the raw master key.
    expect(h1).not.toBe(crypto.createHash('sha256').update(apiKey).digest('base64url'));
    expect(keyring.apiKeyHmacKey.equals(master.key)).toBe(false);
    expect(h1).not.toContain(apiKey);
    expect(keyring.hashApiKey(apiKey + 'x')).not.toBe(h1);
  });

  it('differ per master key', () => {
    const apiKey = 'cof_' + crypto.randomBytes(32).toString('base64url');
    const other = new Keyring(store.db, [newMaster()]);
    expect(other.hashApiKey(apiKey)).not.toBe(keyring.hashApiKey(apiKey));
    expect(other.apiKeyHmacKey.equals(keyring.apiKeyHmacKey)).toBe(false);
  });
});

describe('loadMasterKey', () => {
  it('creates master.key (mode 0600) once, then reads the same key', () => {
    const dataDir = path.join(tempDir(), 'nested', 'data');
    const first = loadMasterKey({ masterKey: null, dataDir });
    const file = path.join(dataDir, 'master.key');
    expect(first).toMatchObject({ created: true, source: 'file', file });
    expect(first.key).toHaveLength(32);
    expect(first.id).toBe(masterKeyId(first.key));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const contents = fs.readFileSync(file, 'utf8');
    expect(Buffer.from(contents.trim(), 'base64').equals(first.key)).toBe(true);

    const second = loadMasterKey({ masterKey: null, dataDir });
    expect(second.created).toBe(false);
    expect(second.key.equals(first.key)).toBe(true);
    expect(second.id).toBe(first.id);
    expect(fs.readFileSync(file, 'utf8')).toBe(contents);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('COFFER_MASTER_KEY wins and no file is written', () => {
    const dataDir = tempDir();
    const key = crypto.randomBytes(32);
    const loaded = loadMasterKey({ masterKey: key.toString('base64'), dataDir });
    expect(loaded).toMatchObject({ created: false, source: 'env', id: masterKeyId(key) });
    expect(loaded.key.equals(key)).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'master.key'))).toBe(false);
  });

  it('refuses a master.key that does not hold 32 bytes', () => {
    const dataDir = tempDir();
    fs.writeFileSync(path.join(dataDir, 'master.key'), crypto.randomBytes(16).toString('base64') + '\n', { mode: 0o600 });
    expect(() => loadMasterKey({ masterKey: null, dataDir })).toThrow(/32-byte/);
  });
});

describe('loadConfig and COFFER_MASTER_KEY', () => {
  const valid = crypto.randomBytes(32).toString('base64');

  it('accepts a 32-byte base64 key', () => {
    expect(loadConfig({ COFFER_MASTER_KEY: valid }).masterKey).toBe(valid);
    expect(loadConfig({ COFFER_MASTER_KEY: `  ${valid}\n` }).masterKey).toBe(valid);
    expect(loadConfig({}).masterKey).toBeNull();
  });

  it.each([
    ['too short', crypto.randomBytes(16).toString('base64')],
    ['too long', crypto.randomBytes(33).toString('base64')],
    ['hex instead of base64', crypto.randomBytes(32).toString('hex')],
    ['not base64 at all', 'correct horse battery staple'],
    ['a 32-byte key with one character missing', valid.slice(0, 20) + valid.slice(21)],
    ['a single character', 'x'],
  ])('rejects %s with one line', (_name, value) => {
    let error: unknown;
    try {
      loadConfig({ COFFER_MASTER_KEY: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/COFFER_MASTER_KEY/);
    expect(message).toMatch(/32 bytes/);
    expect(message).not.toMatch(/\n/);
    expect(message).not.toContain(value);
  });
});
