// `beamix size`: each item of a closure with its own size and the size of its own closure, like
// `guix size`, largest closure first; and the total.
import type { Store } from "../store/store.ts";
import { closureNodes } from "./closure.ts";

export interface SizeEntry {
  path: string;
  name: string;
  version: string;
  own: number; // bytes: the item's tree
  closure: number; // bytes: the item and everything it references, transitively
}

export interface SizeReport {
  items: SizeEntry[]; // largest closure first, then by path
  total: number; // the whole closure of the roots
}

export function closureSizes(store: Store, roots: readonly string[]): SizeReport {
  const nodes = closureNodes(store, roots);
  const own = new Map(nodes.map((n) => [n.path, n.narSize]));
  const items = nodes.map((n) => ({
    path: n.path,
    name: n.name,
    version: n.version,
    own: n.narSize,
    closure: store.closure([n.path]).reduce((sum, p) => sum + own.get(p)!, 0),
  }));
  items.sort((a, b) => b.closure - a.closure || a.path.localeCompare(b.path));
  return { items, total: nodes.reduce((sum, n) => sum + n.narSize, 0) };
}
