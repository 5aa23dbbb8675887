// Build step (`npm run build`, after tsc): parses the built-in connector files once and writes them, by the SHA-256 of
// their text, to dist/connectors/catalogue.parsed.json, which the loader reads instead of parsing YAML at every start.
import fs from 'node:fs';
import { builtinCatalogueDir, parseConnectorDir } from '../dist/connectors/loader.js';

const out = new URL('../dist/connectors/catalogue.parsed.json', import.meta.url);
fs.writeFileSync(out, JSON.stringify(parseConnectorDir(builtinCatalogueDir())));
