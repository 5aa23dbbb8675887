// Loads connector definition files (YAML or JSON) into a Catalogue.
//
// Built-ins live in src/connectors/catalogue/ (one file per connector). A user directory (COFFER_CONNECTORS_DIR) adds
// connectors or replaces built-ins by id. Any bad file is a ConnectorDefinitionError whose one-line message names the
// file and the field: `<file>: <field path>: <problem>`.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { validateConnectorFile } from './schema.js';
import type { ConnectorDefinition } from './types.js';

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export class ConnectorDefinitionError extends Error {
  override readonly name = 'ConnectorDefinitionError';
  constructor(
    /** The file (or directory) at fault. */
    readonly file: string,
    /** Field path such as `oauth.token_url`, or a location such as `line 3, column 7`. */
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${file}: ${field}: ${oneLine(problem)}`);
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function parseFile(path: string, text: string): unknown {
  if (extname(path).toLowerCase() === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new ConnectorDefinitionError(path, '(parse)', `invalid JSON: ${(err as Error).message}`);
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    const where = pos ? `line ${pos.line}, column ${pos.col}` : '(parse)';
    // yaml's messages end with a code frame after the first line; keep the first line only.
    const message = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConnectorDefinitionError(path, where, `invalid YAML: ${message}`);
  }
  return doc.toJS() as unknown;
}

/**
 * The built-in catalogue's files already parsed, by the SHA-256 of their text: written at build time next to the built
 * loader (scripts/parse-catalogue.mjs), read with one JSON.parse where parsing every YAML file took most of a cold
 * start. A file whose text changed since (or any other file) is parsed as usual.
 */
const PARSED_CATALOGUE = fileURLToPath(new URL('./catalogue.parsed.json', import.meta.url));
let parsedCatalogue: Record<string, unknown> | null = null;

function parsedDocuments(): Record<string, unknown> {
  if (parsedCatalogue) return parsedCatalogue;
  try {
    parsedCatalogue = JSON.parse(readFileSync(PARSED_CATALOGUE, 'utf8')) as Record<string, unknown>;
  } catch {
    parsedCatalogue = {};
  }
  return parsedCatalogue;
}

const digest = (text: string) => createHash('sha256').update(text).digest('base64url');

/** The parsed documents of every connector file of `dir`, by the SHA-256 of their text (what the build writes). */
export function parseConnectorDir(dir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const path of connectorFiles(dir)) {
    const text = readFileSync(path, 'utf8');
    out[digest(text)] = parseFile(path, text);
  }
  return out;
}

/** Reads, parses and validates one file; defaults applied. */
export function loadConnectorFile(path: string): ConnectorDefinition {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConnectorDefinitionError(path, '(file)', `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const parsed = parsedDocuments()[digest(text)];
  // A copy: validation fills in defaults, and the same text may be loaded again.
  const document = parsed === undefined ? parseFile(path, text) : structuredClone(parsed);
  const result = validateConnectorFile(document);
  if (!result.ok) throw new ConnectorDefinitionError(path, result.problem.path, result.problem.message);
  return { ...result.value, source: path };
}

/** The .yaml/.yml/.json files of `dir` (not recursive), sorted by file name. */
function connectorFiles(dir: string): string[] {
  const absolute = resolve(dir);
  let names: string[];
  try {
    if (!statSync(absolute).isDirectory()) throw new ConnectorDefinitionError(absolute, '(dir)', 'not a directory');
    names = readdirSync(absolute);
  } catch (err) {
    if (err instanceof ConnectorDefinitionError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'connector directory does not exist' : `connector directory cannot be read: ${code ?? (err as Error).message}`;
    throw new ConnectorDefinitionError(absolute, '(dir)', problem);
  }
  return names
    .filter((name) => !name.startsWith('.') && EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(absolute, name))
    .filter((path) => statSync(path).isFile());
}

/** Every connector file of `dir`, loaded. Ids must be unique within the dir. */
export function loadConnectorDir(dir: string): ConnectorDefinition[] {
  const files = connectorFiles(dir);
  const byId = new Map<string, ConnectorDefinition>();
  for (const path of files) {
    const def = loadConnectorFile(path);
    const other = byId.get(def.id);
    if (other) throw new ConnectorDefinitionError(path, 'id', `duplicate connector id '${def.id}' (also defined in ${other.source})`);
    byId.set(def.id, def);
  }
  return [...byId.values()];
}

/**
 * Absolute path of src/connectors/catalogue, resolved from the package root so it works from
 * src/connectors/loader.ts (vitest, tsx) and from dist/connectors/loader.js (tsc does not copy YAML files).
 */
export function builtinCatalogueDir(): string {
  return resolve(fileURLToPath(new URL('../../src/connectors/catalogue/', import.meta.url)));
}

export class Catalogue {
  readonly #byId = new Map<string, ConnectorDefinition>();

  /** Later definitions replace earlier ones with the same id (that is how user overrides work). */
  constructor(defs: ConnectorDefinition[]) {
    for (const def of defs) this.#byId.set(def.id, def);
  }

  get(id: string): ConnectorDefinition | undefined {
    return this.#byId.get(id);
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** Sorted by id. */
  all(): ConnectorDefinition[] {
    return [...this.#byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Sorted. */
  ids(): string[] {
    return this.all().map((def) => def.id);
  }

  /** Connectors that serve a unified API (e.g. `crm`), sorted by id. */
  forUnifiedApi(unifiedApi: string): ConnectorDefinition[] {
    return this.all().filter((def) => def.unified_apis.includes(unifiedApi));
  }

  get size(): number {
    return this.#byId.size;
  }
}

export interface LoadCatalogueOptions {
  /** Extra connector files (COFFER_CONNECTORS_DIR): new ids are added, existing ids replace the built-in. */
  userDir?: string;
  /** Defaults to builtinCatalogueDir(); tests may point elsewhere. */
  builtinDir?: string;
  /** COFFER_PROVIDER_HOSTS: hosts added to connectors' `hosts` (self-managed instances). */
  extraHosts?: Record<string, string[]>;
}

export function loadCatalogue(options: LoadCatalogueOptions = {}): Catalogue {
  const builtins = loadConnectorDir(options.builtinDir ?? builtinCatalogueDir());
  const user = options.userDir ? loadConnectorDir(options.userDir) : [];
  const catalogue = new Catalogue([...builtins, ...user]);
  for (const [id, hosts] of Object.entries(options.extraHosts ?? {})) {
    const def = catalogue.get(id);
    if (!def) throw new ConnectorDefinitionError('COFFER_PROVIDER_HOSTS', id, 'is not a connector id');
    def.hosts = [...new Set([...def.hosts, ...hosts])];
  }
  return catalogue;
}
