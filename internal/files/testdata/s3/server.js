// A real, independent S3 implementation for the tests of package files:
// 20 Minutes' fork of s3rver, which checks AWS Signature V4 (access key
// and secret "S3RVER"). Usage: node server.js PORT DIR BUCKET
// It prints "ready PORT" once listening and exits when stdin closes, so it
// does not outlive the test binary.
'use strict';
const S3rver = require('@20minutes/s3rver');

const [port, directory, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
});
server.run().then(
  (addr) => process.stdout.write(`ready ${addr.port}\n`),
  (err) => { console.error(err); process.exit(1); },
);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
