// The build parses the built-in catalogue once (scripts/parse-catalogue.mjs) and the built loader reads that instead of
// parsing YAML at every start: what it loads must be exactly what parsing the files gives, and a file whose text is not
// the one parsed at build time must be parsed anew.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinCatalogueDir, loadCatalogue, loadConnectorDir } from '../../src/connectors/loader.js';
import { tempDir } from '../support/oidc.js';

// The built loader (what `npm start` runs), next to the catalogue file the build wrote.
const built = (await import(new URL('../../dist/connectors/loader.js', import.meta.url).href)) as typeof import('../../src/connectors/loader.js');

describe('the parsed built-in catalogue', () => {
  it('exists after the build and covers every built-in file', () => {
    const parsed = JSON.parse(fs.readFileSync(new URL('../../dist/connectors/catalogue.parsed.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const files = fs.readdirSync(builtinCatalogueDir()).filter((name) => /\.(ya?ml|json)$/.test(name));
    expect(Object.keys(parsed)).toHaveLength(files.length);
  });

  it('loads the same definitions as parsing the YAML', () => {
    expect(built.loadCatalogue().all()).toEqual(loadCatalogue().all());
  });

  it('parses a file whose text changed since the build', () => {
    const dir = tempDir('coffer-parsed-catalogue-');
    try {
      const original = fs.readFileSync(path.join(builtinCatalogueDir(), 'pipedrive.yaml'), 'utf8');
      fs.writeFileSync(path.join(dir, 'pipedrive.yaml'), original.replace(/^name: .*$/m, 'name: Pipedrive (edited)'));
      expect(built.loadConnectorDir(dir).map((def) => def.name)).toEqual(['Pipedrive (edited)']);
      expect(loadConnectorDir(dir).map((def) => def.name)).toEqual(['Pipedrive (edited)']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
