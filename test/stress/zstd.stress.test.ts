// compressed-blobs/zstd in full: a 2 GiB blob of zeros (about 64 KiB of zstd)
// uploaded, stored and read back compressed, every side streaming, within
// the same memory bound as the 128 MiB short form in
// test/daemon/compressed-blobs/compressed-bytestream.test.ts.
import { defineLargeZstdSuite } from '../daemon/compressed-blobs/large-zstd-suite.js';

defineLargeZstdSuite({ mebibytes: 2048, rssLimitMiB: 96 });
