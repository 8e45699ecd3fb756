// `beamix deps tree`: a Mix project's dependencies as `mix deps.tree` shows them, from its
// declared dependencies and the dependencies each mix.lock entry records (no registry needed).
// A dependency the lock does not hold (an optional one nobody required, a path dependency) is
// shown without a version and without children.
import { lockEntryRepo, type MixLock } from "./lock.ts";
import type { DeclaredDep } from "./lock-project.ts";

export interface TreeNode {
  app: string;
  requirement: string | null;
  package?: string; // a Hex package, when the lock says so
  version?: string; // locked version (git: the revision)
  repo?: string;
  scm: string;
  deps: TreeNode[];
}

export function depsTree(declared: DeclaredDep[], lock: MixLock): TreeNode[] {
  const node = (app: string, requirement: string | null, scm: string, seen: ReadonlySet<string>): TreeNode => {
    const e = lock.get(app);
    const n: TreeNode = { app, requirement, scm, deps: [] };
    if (e?.kind === "hex") {
      Object.assign(n, { package: e.package, version: e.version, repo: lockEntryRepo(e), scm: "hex" });
      // A cycle (impossible in a valid lock) is cut rather than followed forever.
      if (!seen.has(app)) {
        const inner = new Set([...seen, app]);
        n.deps = (e.deps ?? []).filter((d) => !d.optional || lock.has(d.app)).map((d) => node(d.app, d.requirement, "hex", inner));
      }
    } else if (e?.kind === "git") {
      Object.assign(n, { version: e.rev, scm: "git" });
    }
    return n;
  };
  return declared.map((d) => node(d.app, d.requirement, d.scm, new Set()));
}

// The text `mix deps.tree` prints: the project, then ├── / └── branches.
export function formatDepsTree(root: string, nodes: TreeNode[]): string[] {
  const lines = [root];
  const walk = (ns: TreeNode[], prefix: string) => {
    ns.forEach((n, i) => {
      const last = i === ns.length - 1;
      const what = n.scm === "hex" ? `Hex package${n.repo && n.repo !== "hexpm" ? ` ${n.repo}` : ""}` : n.scm;
      const version = n.version ? ` ${n.scm === "git" ? n.version.slice(0, 7) : n.version}` : " (not locked)";
      lines.push(`${prefix}${last ? "└── " : "├── "}${n.app}${n.requirement ? ` ${n.requirement}` : ""} (${what})${version}`);
      walk(n.deps, prefix + (last ? "    " : "│   "));
    });
  };
  walk(nodes, "");
  return lines;
}
