// `coffer flows token`: a Management API token for one application with exactly the scopes asked for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoffer, type TestCoffer } from '../support/coffer.js';
import { cliChildren, runCli } from '../support/cli.js';
import { expectAuth0Error, flowsCall } from '../support/flows.js';

describe('coffer flows token', () => {
  let coffer: TestCoffer;
  const env = () => ({ COFFER_DATA_DIR: coffer.dataDir, COFFER_MASTER_KEY: coffer.masterKey, COFFER_PUBLIC_URL: coffer.url });

  beforeAll(async () => {
    coffer = await startCoffer('sqlite');
  });

  afterAll(async () => {
    for (const child of cliChildren) child.kill('SIGKILL');
    await coffer?.close();
  });

  it('--json prints the token with its scope and lifetime; the token carries only those scopes', async () => {
    const res = await runCli(['flows', 'token', '--app', coffer.appId, '--scopes', 'read:flows_vault_connections', '--ttl', '120', '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    const issued = JSON.parse(res.stdout);
    expect(issued).toEqual({ access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/), token_type: 'Bearer', expires_in: 120, scope: 'read:flows_vault_connections' });
    expect((await flowsCall(coffer, issued.access_token, 'GET')).status).toBe(200);
    expectAuth0Error(await flowsCall(coffer, issued.access_token, 'POST', '', { app_id: 'HTTP', name: 'x' }), 403, 'insufficient_scope');
  });

  it('refuses unknown scopes and unknown applications with one clear line', async () => {
    const scope = await runCli(['flows', 'token', '--app', coffer.appId, '--scopes', 'read:users'], env());
    expect(scope.code).toBe(1);
    expect(scope.stderr).toBe('coffer: Unknown scope read:users; known: read:flows_vault_connections create:flows_vault_connections update:flows_vault_connections delete:flows_vault_connections\n');
    expect(scope.stdout).toBe('');
    const app = await runCli(['flows', 'token', '--app', 'app_nobody', '--scopes', 'read:flows_vault_connections'], env());
    expect(app.code).toBe(1);
    expect(app.stderr).toBe('coffer: no application app_nobody (see coffer app create)\n');
  });
});
