// Reads everything a Coffer instance stored, as bytes on disk (SQLite files) or every row as text (PostgreSQL), and
// looks for secrets in it.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { TestCoffer } from './coffer.js';

/** Every form a secret could take on disk: as is, base64 and base64url of its UTF-8 bytes, hex. */
export function encodings(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  return [secret, bytes.toString('base64'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url'), bytes.toString('hex')];
}

export function leaks(haystack: Buffer | string, secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    for (const form of encodings(secret)) {
      if (haystack.includes(form)) found.push(`${name} (${form === secret ? 'plain' : 'encoded'})`);
    }
  }
  return found;
}

export async function rawStorage(coffer: TestCoffer): Promise<Buffer> {
  await coffer.server.logs.flush();
  if (coffer.backend === 'sqlite') {
    const parts: Buffer[] = [];
    for (const name of ['coffer.db', 'coffer.db-wal', 'coffer.db-shm']) {
      const file = path.join(coffer.dataDir, name);
      if (fs.existsSync(file)) parts.push(fs.readFileSync(file));
    }
    return Buffer.concat(parts);
  }
  const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = $1 and table_type = 'BASE TABLE' order by table_name`,
      [coffer.schema],
    );
    const lines: string[] = [];
    for (const { table_name } of tables.rows) {
      const rows = await client.query<{ t: string }>(`select t::text as t from "${coffer.schema}"."${table_name}" t`);
      for (const row of rows.rows) lines.push(`${table_name}: ${row.t}`);
    }
    return Buffer.from(lines.join('\n'), 'utf8');
  } finally {
    await client.end();
  }
}
