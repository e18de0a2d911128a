// Deterministic test data: the same call gives the same bytes on every run,
// so a failing test reproduces. Pick the generator by the property a test
// needs: incompressible, compressible, or a mix of both.
import { deterministicBytes } from './deterministic-bytes.mjs';

export { deterministicBytes };

/**
 * Build-output-like text of exactly `size` bytes, varying with `seed`:
 * compressible (lz4 shrinks it well), yet every line differs (it numbers
 * them), so dedup finds no repeats within a blob.
 */
export function textBlob(size: number, seed = 0): Buffer {
  const line = (i: number) =>
    `src/lib/module_${(i + seed) % 97}.cc:${i + 1}: warning: unused variable 'x${(i + seed * 7) % 13}' [-Wunused] (${seed})\n`;
  const parts: string[] = [];
  let total = 0;
  for (let i = 0; total < size; i++) {
    const l = line(i);
    parts.push(l);
    total += l.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

/** Alternating 2 KiB runs of text-like bytes and random bytes: part compressible, part not, distinct per seed. */
export function mixedBytes(size: number, seed: number): Buffer {
  const random = deterministicBytes(size, seed);
  return Buffer.from(random.map((b, i) => (i % 4096 < 2048 ? 97 + (b % 16) : b)));
}
