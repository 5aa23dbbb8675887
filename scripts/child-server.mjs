// What the child servers of bench/ and fuzz/ share: they clean up after themselves (data dir, PostgreSQL schema)
// however they are stopped — a signal, or the parent closing their stdin — and a free port to start one on.
import net from 'node:net';
import pg from 'pg';

export async function dropSchema(baseUrl, schema) {
  if (!schema) return;
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Runs `steps()` (a list of [name, fn], each run even if an earlier one failed) once when the process is told to stop,
 * then exits; returns `shutdown(code)` to do the same from the script itself.
 */
export function stopWith(label, steps) {
  let closing = null;
  const cleanup = () =>
    (closing ??= (async () => {
      for (const [name, fn] of steps()) {
        try {
          await fn();
        } catch (error) {
          process.stderr.write(`[${label}] ${name} failed: ${error?.stack ?? error}\n`);
        }
      }
    })());
  // process.exit (not a signal death) so `node --cpu-prof` still writes its profile.
  const shutdown = async (code = 0) => {
    await cleanup();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  process.stdin.on('end', () => void shutdown(0));
  process.stdin.on('error', () => void shutdown(0));
  process.stdin.resume();
  return shutdown;
}

/** A port nothing listens on at the moment of asking (127.0.0.1), for a child server told which port to take. */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(() => resolve()));
  return port;
}
