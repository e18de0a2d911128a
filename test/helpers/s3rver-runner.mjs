// Runs s3rver in its own process (started by test/helpers/s3rver.ts with
// --openssl-legacy-provider, which its pagination tokens need). Argument: JSON
// {directory, buckets}. Prints one line {"port": N} once listening; exits on SIGTERM.
import S3rver from 's3rver';

const { directory, buckets } = JSON.parse(process.argv[2] ?? '{}');
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: (buckets ?? []).map((name) => ({ name })),
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);

const stop = () => {
  server.close(() => process.exit(0));
  // Keep-alive sockets can hold close() open; the parent only waits for exit.
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
