// The life of a fastify bench child: listen on 127.0.0.1:0, print one JSON line `{"ready":true,"url":…}`, and exit on
// SIGTERM/SIGINT or when stdin closes (so it never outlives the benchmark that started it).
export async function serveUntilStdinCloses(app, onClose = async () => {}) {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address();
  process.stdout.write(JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}`, pid: process.pid }) + '\n');

  let closing = false;
  async function shutdown() {
    if (closing) return;
    closing = true;
    try {
      await app.close();
      await onClose();
    } finally {
      // process.exit (not a signal death) so `node --cpu-prof` still writes its profile.
      process.exit(0);
    }
  }
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
