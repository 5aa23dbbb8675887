// A connection view's JSON is rendered once without its links and the links are put in per caller (each with a fresh
// single-use state): the result must be exactly what rendering the whole view would give, whatever the metadata holds.
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../../src/crypto/keyring.js';
import { connectionView, linklessConnectionView, viewLinks, withLinks } from '../../src/vault/connection-view.js';
import { connector, oauthSettings, record } from '../support/unit.js';

const keyring = new Keyring(null as never, [{ id: 'test', key: crypto.randomBytes(32) }]);
const PUBLIC_URL = 'https://vault.example.com';
const appConnector = { enabled: 1, client_sealed: 'sealed' };
const withoutStates = (text: string) => text.replace(/state=[A-Za-z0-9._~%-]+/g, 'state=<fresh>');

describe('connection views with their links put in', () => {
  const def = connector({ auth_type: 'oauth2', oauth: oauthSettings('authorization_code') });
  // Metadata that looks like the link fields, as a key pair and as text: only the view's own fields take the links.
  const metadata = { authorize_url: null, revoke_url: null, note: '"authorize_url":null,"revoke_url":null' };

  for (const [name, rec] of [
    ['no connection', null],
    ['a connection without tokens', record(def, { metadata })],
    ['an authorized connection', record(def, { metadata, credentials: { access_token: 'token', token_type: 'bearer' } })],
  ] as const) {
    it(`${name}: the same view as rendered whole`, async () => {
      const links = await viewLinks(keyring, PUBLIC_URL, def, 'crm', 'app_1', 'consumer-1', rec);
      const text = withLinks(JSON.stringify(linklessConnectionView(def, 'crm', appConnector, rec)), links);
      const whole = await connectionView(keyring, PUBLIC_URL, def, 'crm', 'app_1', 'consumer-1', appConnector, rec);
      expect(withoutStates(text)).toBe(withoutStates(JSON.stringify(whole)));
      const view = JSON.parse(text);
      expect(view.authorize_url).toMatch(new RegExp(`^${PUBLIC_URL}/vault/authorize/${def.id}/app_1\\?state=`));
      if (rec?.credentials) expect(view.revoke_url).toMatch(new RegExp(`^${PUBLIC_URL}/vault/revoke/${def.id}/app_1\\?state=`));
      else expect(view.revoke_url).toBeNull();
      if (rec) expect(view.metadata).toEqual(metadata);
    });
  }

  it('connectors without browser links, or without a consumer, keep the link-free text', async () => {
    const apiKey = connector({ auth_type: 'apiKey' });
    expect(await viewLinks(keyring, PUBLIC_URL, apiKey, 'crm', 'app_1', 'consumer-1', null)).toBeNull();
    expect(await viewLinks(keyring, PUBLIC_URL, def, 'crm', 'app_1', null, null)).toBeNull();
    const text = JSON.stringify(linklessConnectionView(apiKey, 'crm', appConnector, null));
    expect(withLinks(text, null)).toBe(text);
  });
});
