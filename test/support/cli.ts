// Runs the built `coffer` CLI (dist/cli.js) as a subprocess, with an environment free of the parent's Coffer settings.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = path.join(ROOT, 'dist', 'cli.js');

/** Every CLI process still running; a test file kills them in afterAll. */
export const cliChildren = new Set<ChildProcess>();

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The parent's environment without anything that configures Coffer or vitest, plus `env`. */
export function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('COFFER_') || ['DATABASE_URL', 'PORT', 'HOST', 'LOG_LEVEL', 'NODE_OPTIONS'].includes(key)) continue;
    if (key.startsWith('VITEST') || key === 'TEST') continue;
    out[key] = value;
  }
  return { ...out, ...env };
}

export function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  cliChildren.add(child);
  child.on('exit', () => cliChildren.delete(child));
  return child;
}

export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ServedCli {
  child: ChildProcess;
  /** Where to reach it from here. */
  url: string;
  /** What it printed as its URL. */
  printedUrl: string;
  stdout: () => string;
  stderr: () => string;
}

/** Spawns `coffer serve …` and resolves once it has printed its whole banner. */
export function serveCli(args: string[], env: Record<string, string>): Promise<ServedCli> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(['serve', ...args], env);
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`coffer serve did not start:\n${stdout}\n${stderr}`)), 20_000);
    child.stdout!.on('data', (d) => {
      stdout += d;
      const match = /Coffer is listening on (http:\/\/[^\s/]+)/.exec(stdout);
      if (match && /API reference: \S+\n/.test(stdout)) {
        clearTimeout(timer);
        const port = new URL(match[1]).port;
        resolve({ child, url: `http://127.0.0.1:${port}`, printedUrl: match[1], stdout: () => stdout, stderr: () => stderr });
      }
    });
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`coffer serve exited with ${code}:\n${stdout}\n${stderr}`));
    });
  });
}

/** SIGTERM, then SIGKILL after 5 s. */
export async function stopCli(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
