// `beamix graph`: the reference graph of a closure, as data, as Graphviz dot, and (see
// src/view/graph-page.ts) as a page.
import { basename } from "node:path";
import type { Store } from "../store/store.ts";
import { closureNodes } from "./closure.ts";

export interface GraphNode {
  id: string; // <drv hash>-<name>-<version>
  name: string;
  version: string;
  path: string;
  size: number; // own size, bytes
  root: boolean;
}

export interface ClosureGraph {
  nodes: GraphNode[];
  edges: { from: string; to: string }[]; // from refers to to
}

export function closureGraph(store: Store, roots: readonly string[]): ClosureGraph {
  const rootSet = new Set(roots);
  const nodes = closureNodes(store, roots);
  return {
    nodes: nodes.map((n) => ({ id: n.item, name: n.name, version: n.version, path: n.path, size: n.narSize, root: rootSet.has(n.path) })),
    edges: nodes.flatMap((n) => n.references.map((r) => ({ from: n.item, to: basename(r) }))),
  };
}

const quote = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;

export function graphToDot(g: ClosureGraph): string {
  const lines = ["digraph beamix {", "  node [shape=box];"];
  for (const n of g.nodes) lines.push(`  ${quote(n.id)} [label=${quote(`${n.name} ${n.version}`)}${n.root ? ", style=bold" : ""}];`);
  for (const e of g.edges) lines.push(`  ${quote(e.from)} -> ${quote(e.to)};`);
  lines.push("}");
  return lines.join("\n") + "\n";
}
