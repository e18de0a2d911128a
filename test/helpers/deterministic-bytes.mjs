// Plain JavaScript so the child processes of the SIGKILL tests (which run
// without a TypeScript loader) make the same bytes as the tests that check them.

/**
 * Incompressible bytes, the same for the same (size, seed) and distinct per
 * seed: xorshift32, so a failing test reproduces.
 */
export function deterministicBytes(size, seed) {
  const out = Buffer.alloc(size);
  // xorshift32 stays at 0 forever; seed 0 gets its own nonzero state.
  let x = seed | 0 || 0x6d2b79f5;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
