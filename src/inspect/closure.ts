// The closure of store items as a graph: each item with its own size and its references, read
// from the store's database (no tree is read). The basis of size, graph and why-depends.
import { basename } from "node:path";
import { BeamixError } from "../errors.ts";
import type { Store } from "../store/store.ts";

export interface ClosureNode {
  path: string; // absolute item path
  item: string; // <drv hash>-<name>-<version>
  name: string;
  version: string;
  narSize: number; // the item's own size: its tree serialization
  references: string[]; // absolute item paths, sorted
}

// Every item the roots reach, roots included, sorted by path.
export function closureNodes(store: Store, roots: readonly string[]): ClosureNode[] {
  return store.closure(roots).map((path) => {
    const item = store.queryItem(path);
    if (!item) throw new BeamixError(`${path}: not a valid item of the store ${store.dir}`);
    return { path, item: basename(path), name: item.name, version: item.version, narSize: item.narSize, references: item.references };
  });
}

// Bytes as people read them: 1536 → "1.5 KiB".
export function formatBytes(n: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (n < 1024) return `${n} B`;
  let v = n;
  let unit = "B";
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return `${v.toFixed(1)} ${unit}`;
}
