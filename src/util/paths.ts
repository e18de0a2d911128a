// Where the package's own files live, whether running from dist/ or a test.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The directory holding ncache's package.json (walks up from this module). */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src', 'proto'))) return (cachedRoot = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the ncache package root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export const protoDir = (): string => join(packageRoot(), 'src', 'proto');
export const templatesDir = (): string => join(packageRoot(), 'templates');
