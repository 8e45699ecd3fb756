// `beamix why-depends A B`: a shortest chain of references by which item A needs item B, like
// `nix why-depends`; undefined when A does not depend on B.
import type { Store, StoreItem } from "../store/store.ts";

export function whyDepends(store: Store, from: string, to: string): StoreItem[] | undefined {
  const previous = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const at = queue.shift()!;
    if (at === to) {
      const chain: StoreItem[] = [];
      for (let p: string | null = at; p !== null; p = previous.get(p)!) chain.unshift(store.queryItem(p)!);
      return chain;
    }
    for (const r of store.references(at)) {
      if (previous.has(r)) continue;
      previous.set(r, at);
      queue.push(r);
    }
  }
  return undefined;
}
