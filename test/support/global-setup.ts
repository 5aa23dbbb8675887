// Says loudly when the PostgreSQL half of the suite is not running.
export default function setup(): void {
  if (!process.env.TEST_DATABASE_URL) {
    const bar = '!'.repeat(78);
    process.stderr.write(
      `\n${bar}\n!!  TEST_DATABASE_URL is not set: the PostgreSQL suite DID NOT RUN (SQLite only).\n` +
        `!!  Run e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm test\n${bar}\n\n`,
    );
  }
}
