// NativeLink's property_modifier rules, applied to an action's platform
// properties in the order written. NativeLink keeps an action's properties as
// a map (one value per name), so `add` sets the name to that one value,
// replacing any it had; `remove` drops every value of the name; `replace`
// renames a property (optionally only a given value, optionally to a new
// value). Removing or replacing a property the action lacks does nothing.
import type { PropertyModification } from '../config/types.js';
import type { PlatformProperties } from './job.js';

export function modifyProperties(properties: PlatformProperties, modifications: readonly PropertyModification[]): PlatformProperties {
  const out = new Map<string, readonly string[]>(Object.entries(properties));
  for (const m of modifications) {
    if ('add' in m) {
      out.set(m.add.name, [m.add.value]);
    } else if ('remove' in m) {
      out.delete(m.remove);
    } else {
      const { name, value, new_name, new_value } = m.replace;
      const values = out.get(name) ?? [];
      const matched = values.filter((v) => value === undefined || v === value);
      if (matched.length === 0) continue;
      const rest = values.filter((v) => !matched.includes(v));
      if (rest.length > 0) out.set(name, rest);
      else out.delete(name);
      out.set(new_name, new_value === undefined ? matched : [new_value]);
    }
  }
  return Object.fromEntries(out);
}

/** The same properties, whatever the order of names and values. */
export function sameProperties(a: PlatformProperties, b: PlatformProperties): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  return names.every((name) => {
    const x = [...(a[name] ?? [])].sort();
    const y = [...(b[name] ?? [])].sort();
    return x.length === y.length && x.every((v, i) => v === y[i]);
  });
}
