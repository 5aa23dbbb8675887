// Master key → per-application data keys (wrapped, with ids) → sealed fields.
import crypto from 'node:crypto';
import type { Executor } from '../store/database.js';
import { createActiveDataKey, findActiveDataKeyId, findDataKey } from '../store/data-keys.js';
import { decrypt, DecryptionError, encrypt } from './aead.js';
import type { MasterKey } from './master-key.js';

/** Where a sealed value belongs; a ciphertext moved to another row or field no longer opens. */
export interface SealContext {
  applicationId: string;
  ownerId: string;
  field: string;
}

function derive(master: Buffer, info: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', master, Buffer.from('coffer'), Buffer.from(info), 32));
}

export class Keyring {
  private readonly masters = new Map<string, Buffer>();
  private readonly activeMaster: MasterKey;
  private readonly dataKeys = new Map<string, { applicationId: string; key: Buffer }>();
  private readonly activeDataKey = new Map<string, string>();
  readonly apiKeyHmacKey: Buffer;
  /** The same key, imported once: every authenticated request hashes its API key with it. */
  private readonly apiKeyHmacKeyObject: crypto.KeyObject;
  readonly sessionSigningKey: Uint8Array;
  /** The same key for node:crypto, which signs the links in connection views (crypto/compact-jws.ts). */
  readonly sessionSigningKeyObject: crypto.KeyObject;
  /** Signs the Management API tokens of the Flows Vault API (never accepted as session tokens, nor the reverse). */
  readonly flowsManagementKey: Uint8Array;

  /** `masters[0]` is active; the others are kept to unwrap data keys written before a rotation. */
  constructor(private readonly db: Executor, masters: MasterKey[]) {
    if (masters.length === 0) throw new Error('a keyring needs a master key');
    this.activeMaster = masters[0];
    for (const m of masters) this.masters.set(m.id, m.key);
    this.apiKeyHmacKey = derive(this.activeMaster.key, 'api-key-hmac');
    this.apiKeyHmacKeyObject = crypto.createSecretKey(this.apiKeyHmacKey);
    this.sessionSigningKey = derive(this.activeMaster.key, 'session-jwt');
    this.sessionSigningKeyObject = crypto.createSecretKey(this.sessionSigningKey);
    this.flowsManagementKey = derive(this.activeMaster.key, 'flows-management-jwt');
  }

  get masterKeyId(): string {
    return this.activeMaster.id;
  }

  hashApiKey(apiKey: string): string {
    return crypto.createHmac('sha256', this.apiKeyHmacKeyObject).update(apiKey).digest('base64url');
  }

  /** Creates the application's first (or next) data key, inside the caller's transaction when `db` is one. */
  async createDataKey(applicationId: string, db: Executor = this.db): Promise<string> {
    const id = 'dk_' + crypto.randomBytes(8).toString('hex');
    const key = crypto.randomBytes(32);
    const wrapped = encrypt(this.activeMaster.key, key, `coffer:dk|${applicationId}|${id}`);
    await createActiveDataKey(db, applicationId, { id, master_key_id: this.activeMaster.id, wrapped, created_at: Date.now() });
    this.dataKeys.set(id, { applicationId, key });
    this.activeDataKey.set(applicationId, id);
    return id;
  }

  private async dataKey(applicationId: string, id: string, db: Executor): Promise<Buffer> {
    const cached = this.dataKeys.get(id);
    if (cached) {
      if (cached.applicationId !== applicationId) throw new DecryptionError('data key belongs to another application');
      return cached.key;
    }
    const row = await findDataKey(db, applicationId, id);
    if (!row) throw new DecryptionError(`unknown data key ${id}`);
    const master = this.masters.get(row.master_key_id);
    if (!master) throw new DecryptionError(`data key ${id} is wrapped by master key ${row.master_key_id}, which is not loaded`);
    const key = decrypt(master, row.wrapped, `coffer:dk|${applicationId}|${id}`);
    this.dataKeys.set(id, { applicationId, key });
    return key;
  }

  private async activeDataKeyId(applicationId: string, db: Executor): Promise<string> {
    const cached = this.activeDataKey.get(applicationId);
    if (cached) return cached;
    const id = (await findActiveDataKeyId(db, applicationId)) ?? (await this.createDataKey(applicationId, db));
    this.activeDataKey.set(applicationId, id);
    return id;
  }

  private static aad(ctx: SealContext, keyId: string): string {
    return `coffer:v1|${ctx.applicationId}|${ctx.ownerId}|${ctx.field}|${keyId}`;
  }

  async seal(ctx: SealContext, plaintext: string, db: Executor = this.db): Promise<string> {
    const keyId = await this.activeDataKeyId(ctx.applicationId, db);
    const key = await this.dataKey(ctx.applicationId, keyId, db);
    return `v1.${keyId}.${encrypt(key, Buffer.from(plaintext, 'utf8'), Keyring.aad(ctx, keyId))}`;
  }

  async open(ctx: SealContext, sealed: string, db: Executor = this.db): Promise<string> {
    const [version, keyId, ...rest] = sealed.split('.');
    if (version !== 'v1' || !keyId || rest.length !== 2) throw new DecryptionError('malformed sealed value');
    const key = await this.dataKey(ctx.applicationId, keyId, db);
    return decrypt(key, rest.join('.'), Keyring.aad(ctx, keyId)).toString('utf8');
  }

  async sealJson(ctx: SealContext, value: unknown, db?: Executor): Promise<string> {
    return this.seal(ctx, JSON.stringify(value), db);
  }

  async openJson<T>(ctx: SealContext, sealed: string | null, fallback: T, db?: Executor): Promise<T> {
    if (!sealed) return fallback;
    return JSON.parse(await this.open(ctx, sealed, db)) as T;
  }
}
