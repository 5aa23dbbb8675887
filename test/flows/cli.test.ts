// `coffer flows token`: a Management API token for one application with exactly the scopes asked for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoffer, type TestCoffer } from '../support/coffer.js';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { cliChildren, runCli, serveCli, stopCli } from '../support/cli.js';
import { tempDir } from '../support/oidc.js';
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

  it('a served Coffer logs Flows Vault calls (LOG_LEVEL=trace) without any setup secret or token', async () => {
    const dataDir = tempDir('coffer-flows-logs-');
    const serveEnv = { COFFER_DATA_DIR: dataDir, COFFER_MASTER_KEY: crypto.randomBytes(32).toString('base64'), HOST: '127.0.0.1', LOG_LEVEL: 'trace' };
    const served = await serveCli(['--port', '0'], serveEnv);
    try {
      const appId = /Application id: (\S+)/.exec(served.stdout())![1];
      // Made with the CLI's own idea of the public URL (port 8080), which is not the served one: still accepted.
      const issued = await runCli(['flows', 'token', '--app', appId, '--scopes', 'create:flows_vault_connections update:flows_vault_connections'], serveEnv);
      expect(issued.code, issued.stderr).toBe(0);
      const token = issued.stdout.trim();
      const secrets = { bearer: `bearer-${crypto.randomBytes(12).toString('hex')}`, clientSecret: `cs-${crypto.randomBytes(12).toString('hex')}`, token };
      const post = (body: unknown) =>
        fetch(`${served.url}/api/v2/flows/vault/connections`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post({ app_id: 'HTTP', name: 'logged', setup: { type: 'BEARER', token: secrets.bearer } })).status).toBe(201);
      expect((await post({ app_id: 'HTTP', name: 'invalid', setup: { type: 'BEARER', token: secrets.bearer, extra: 1 } })).status).toBe(400);
      // Refused by the upstream policy (plain http, loopback): an error path that still must not log the secret.
      const refused = await post({ app_id: 'HTTP', name: 'oauth', setup: { type: 'OAUTH_CLIENT_CREDENTIALS', client_id: 'c', client_secret: secrets.clientSecret, token_endpoint: 'https://127.0.0.1:9/token' } });
      expect(refused.status).toBe(400);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const output = served.stdout() + served.stderr();
      expect(output).toContain('/api/v2/flows/vault/connections');
      for (const [name, secret] of Object.entries(secrets)) expect(output.includes(secret), name).toBe(false);
    } finally {
      await stopCli(served.child);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
