// Stops a child server of the benchmark: closes its stdin, SIGTERM, SIGKILL after 15 s.

export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin?.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    process.stderr.write(`[bench] ${child.benchName} did not exit within 15 s; killing it\n`);
    child.kill('SIGKILL');
  }, 15_000);
  await exited;
  clearTimeout(timer);
}
