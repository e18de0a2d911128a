// Checks that need the whole config: every store or scheduler named somewhere
// exists, names are unique, and ref_stores do not loop back on themselves.
import { issue, nearest, type NameRef, type ReadContext } from './reader.js';

export interface Defined {
  name: string;
  /** Dot-path of the definition, for "first defined at" hints. */
  path: string;
}

/** Reports the second and later definitions of a name. */
export function reportDuplicateNames(ctx: ReadContext, what: string, defs: Defined[]): void {
  const seen = new Map<string, string>();
  for (const d of defs) {
    const first = seen.get(d.name);
    if (first !== undefined) issue(ctx, d.path, `duplicate ${what} name ${JSON.stringify(d.name)} (first defined at ${first})`);
    else seen.set(d.name, d.path);
  }
}

/** Every reference recorded while reading must name something defined. */
export function checkReferences(ctx: ReadContext, stores: string[], schedulers: string[]): void {
  for (const ref of ctx.refs) {
    const names = ref.type === 'store' ? stores : schedulers;
    if (names.includes(ref.name)) continue;
    const near = nearest(ref.name, names);
    const known = names.length === 0 ? `no ${ref.type}s are defined` : `defined ${ref.type}s: ${names.map((n) => JSON.stringify(n)).join(', ')}`;
    issue(
      ctx,
      ref.path,
      `${ref.type} ${JSON.stringify(ref.name)} does not exist (${near ? `did you mean ${JSON.stringify(near)}? ` : ''}${known})`,
    );
  }
  checkRefStoreCycles(ctx, ctx.refs.filter((r) => r.type === 'store' && r.fromStore !== undefined));
}

/**
 * A ref_store inside store A naming A (directly or through other stores'
 * ref_stores) would recurse forever when the stores are built.
 */
function checkRefStoreCycles(ctx: ReadContext, refs: NameRef[]): void {
  const edges = new Map<string, NameRef[]>();
  for (const r of refs) {
    const list = edges.get(r.fromStore!) ?? [];
    list.push(r);
    edges.set(r.fromStore!, list);
  }
  // One message per cycle, however many of its members it is found from.
  const reported = new Set<string>();
  for (const start of edges.keys()) {
    // Depth-first search from each store for a path back to itself.
    const stack: { name: string; trail: string[] }[] = [{ name: start, trail: [start] }];
    const visited = new Set<string>();
    while (stack.length > 0) {
      const { name, trail } = stack.pop()!;
      for (const ref of edges.get(name) ?? []) {
        if (ref.name === start) {
          const members = [...new Set(trail)].sort().join('\0');
          if (!reported.has(members)) {
            reported.add(members);
            const loop = [...trail, start].map((n) => JSON.stringify(n)).join(' -> ');
            issue(ctx, ref.path, `ref_store cycle: ${loop} (a store cannot contain itself)`);
          }
          continue;
        }
        if (visited.has(ref.name)) continue;
        visited.add(ref.name);
        stack.push({ name: ref.name, trail: [...trail, ref.name] });
      }
    }
  }
}
