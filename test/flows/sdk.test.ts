// The Flows Vault connections API driven by the official `auth0` SDK (its generated FlowsClient, base URL pointed at
// Coffer), with a token issued by `coffer flows token`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Management, type ManagementError } from 'auth0';
import { FlowsClient } from 'auth0/flows';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { cliChildren, runCli } from '../support/cli.js';
import { ALL_SCOPES, expectConnectionShape, managementToken } from '../support/flows.js';

async function rejection(promise: Promise<unknown>): Promise<ManagementError> {
  try {
    await promise;
  } catch (error) {
    return error as ManagementError;
  }
  throw new Error('expected the call to fail');
}

describe.each(backends)('Flows Vault API through the auth0 SDK (%s)', (backend) => {
  let coffer: TestCoffer;
  let flows: FlowsClient;
  const client = (token: string) => new FlowsClient({ baseUrl: `${coffer.url}/api/v2`, token, maxRetries: 0 });

  beforeAll(async () => {
    coffer = await startCoffer(backend);
    const cli = await runCli(['flows', 'token', '--app', coffer.appId, '--scopes', ALL_SCOPES.join(' '), '--ttl', '600'], {
      COFFER_DATA_DIR: coffer.dataDir,
      COFFER_MASTER_KEY: coffer.masterKey,
      COFFER_PUBLIC_URL: coffer.url,
      ...(coffer.databaseUrl ? { DATABASE_URL: coffer.databaseUrl } : {}),
    });
    expect(cli.code, cli.stderr).toBe(0);
    const token = cli.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    flows = client(token);
  });

  afterAll(async () => {
    for (const child of cliChildren) child.kill('SIGKILL');
    await coffer?.close();
  });

  it('creates, reads, renames, re-configures and deletes a connection', async () => {
    const created = await flows.vault.connections.create({ app_id: 'HTTP', name: 'billing API', setup: { type: 'BEARER', token: 'sk-live-0123456789' } });
    expectConnectionShape(created);
    expect(created).toMatchObject({ app_id: 'HTTP', name: 'billing API', ready: true, account_name: 'Bearer sk-***789' });
    expect(created.created_at).toBe(created.updated_at);
    expect(JSON.stringify(created)).not.toContain('sk-live-0123456789');

    const read = await flows.vault.connections.get(created.id);
    expect(read).toEqual(created);

    const renamed = await flows.vault.connections.update(created.id, { name: 'billing API (prod)' });
    expect(renamed).toMatchObject({ id: created.id, name: 'billing API (prod)', ready: true, account_name: 'Bearer sk-***789', created_at: created.created_at });
    expect(renamed.fingerprint).not.toBe(created.fingerprint);
    expect(Date.parse(renamed.updated_at)).toBeGreaterThan(Date.parse(created.updated_at));

    const rekeyed = await flows.vault.connections.update(created.id, { setup: { type: 'API_KEY', name: 'X-Api-Key', value: 'key-abcdefghijkl', in: 'HEADER' } });
    expect(rekeyed).toMatchObject({ name: 'billing API (prod)', account_name: 'X-Api-Key key***jkl', ready: true });
    expect(rekeyed.fingerprint).not.toBe(renamed.fingerprint);
    expect(await flows.vault.connections.get(created.id)).toEqual(rekeyed);

    await flows.vault.connections.delete(created.id);
    const gone = await rejection(flows.vault.connections.get(created.id));
    expect(gone).toBeInstanceOf(Management.NotFoundError);
    expect(gone.statusCode).toBe(404);
    expect(gone.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'Connection not found', errorCode: 'inexistent_flows_vault_connection' });
    const again = await rejection(flows.vault.connections.delete(created.id));
    expect(again.statusCode).toBe(404);
  });

  it('creates an uninitialised connection and configures it later', async () => {
    const empty = await flows.vault.connections.create({ app_id: 'SLACK', name: 'alerts' });
    expectConnectionShape(empty);
    expect(empty.ready).toBe(false);
    expect(empty).not.toHaveProperty('account_name');
    const configured = await flows.vault.connections.update(empty.id, { setup: { type: 'WEBHOOK', url: 'https://hooks.slack.com/services/T000/B000/XXXX' } });
    expect(configured).toMatchObject({ ready: true, account_name: 'hooks.slack.com' });
    expect(configured.fingerprint).not.toBe(empty.fingerprint);
    await flows.vault.connections.delete(empty.id);
  });

  it('lists with the paging object (the SDK default), following pages, and as a bare array', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await flows.vault.connections.create({ app_id: 'TELEGRAM', name: `bot ${i}`, setup: { type: 'TOKEN', token: `123456:bot-token-${i}-abcdef` } })).id);
    }
    // include_totals=true by default: one page of everything.
    const all = await flows.vault.connections.list();
    expect(all.response).toMatchObject({ start: 0, limit: 50, total: 5 });
    expect(all.data.map((c) => c.id)).toEqual(ids);
    for (const summary of all.data) {
      expectConnectionShape(summary);
      expect(summary).not.toHaveProperty('environment');
    }

    // Two per page: the SDK follows page=1, page=2 until a short page.
    const page = await flows.vault.connections.list({ per_page: 2 });
    expect(page.response).toEqual({ start: 0, limit: 2, total: 5, connections: page.data });
    expect(page.data.map((c) => c.id)).toEqual(ids.slice(0, 2));
    const seen: string[] = [];
    for await (const connection of page) seen.push(connection.id);
    expect(seen).toEqual(ids);

    const second = await flows.vault.connections.list({ page: 1, per_page: 2 });
    expect(second.response).toMatchObject({ start: 2, limit: 2, total: 5 });
    expect(second.data.map((c) => c.id)).toEqual(ids.slice(2, 4));

    // include_totals=false: Auth0's bare array.
    const bare = await flows.vault.connections.list({ page: 1, per_page: 3, include_totals: false });
    expect(Array.isArray(bare.response)).toBe(true);
    expect((bare.response as unknown as Array<{ id: string }>).map((c) => c.id)).toEqual(ids.slice(3, 5));

    for (const id of ids) await flows.vault.connections.delete(id);
    expect((await flows.vault.connections.list()).response).toMatchObject({ total: 0, connections: [] });
  });

  it('maps refusals to the SDK error classes with Auth0 bodies', async () => {
    const invalid = await rejection(flows.vault.connections.create({ app_id: 'HTTP', name: 'x', setup: { type: 'BEARER' } as never }));
    expect(invalid).toBeInstanceOf(Management.BadRequestError);
    expect(invalid.body).toMatchObject({ statusCode: 400, error: 'Bad Request', errorCode: 'invalid_body' });
    expect((invalid.body as { message: string }).message).toContain('token');

    const readOnly = client(await managementToken(coffer, ['read:flows_vault_connections']));
    const forbidden = await rejection(readOnly.vault.connections.create({ app_id: 'HTTP', name: 'x' }));
    expect(forbidden).toBeInstanceOf(Management.ForbiddenError);
    expect(forbidden.body).toEqual({
      statusCode: 403,
      error: 'Forbidden',
      message: 'Insufficient scope; expected any of: create:flows_vault_connections.',
      errorCode: 'insufficient_scope',
    });

    const unauthorized = await rejection(client('not-a-token').vault.connections.list());
    expect(unauthorized).toBeInstanceOf(Management.UnauthorizedError);
    expect(unauthorized.statusCode).toBe(401);
  });
});
