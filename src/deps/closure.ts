// Which dependencies a Mix project needs in one MIX_ENV, and where each comes from, decided
// from mix.exs and mix.lock with Mix's rules:
// - the project's own declarations count when their `only:` includes the environment (and
//   `targets:` the host target); a dependency's own declarations are read in that dependency's
//   env (prod unless it says `env:`);
// - a Hex dependency's dependencies are the ones its mix.lock entry lists (what Hex resolved);
//   a git dependency's are declared in its own mix.exs; a path dependency is compiled by Mix
//   itself as part of the project, so it is not materialized, but what it declares is needed;
// - an optional dependency is part of the closure only when something in the closure requires
//   it without `optional: true` (or the project declares it); once present, it is an input of
//   every package that declares it, optional or not;
// - the project's own declaration of an app wins over those of its dependencies (an
//   `override: true` one also silences their version requirements);
// - every dependency must be locked, at a version its declarations accept: otherwise the
//   project needs `mix deps.get` first (beamix does not resolve on its own here).
import { BeamixError } from "../errors.ts";
import { matches } from "../elixir/requirement.ts";
import { tryParseVersion } from "../elixir/version.ts";
import { compareTerms } from "../erlang/order.ts";
import type { Term } from "../erlang/term.ts";
import type { GitLockEntry, HexLockEntry, MixLock } from "../mix/lock.ts";
import { lockEntryRepo } from "../mix/lock.ts";
import type { DepDecl, MixProjectInfo } from "./mix-answer-terms.ts";
import { join } from "node:path";

export interface DepEdge {
  app: string;
  requirement: string | null;
  optional: boolean;
  from: string; // who declares it: an app name, or "mix.exs" for the project
}

export interface DepNode {
  app: string;
  source: { kind: "hex"; lock: HexLockEntry } | { kind: "git"; lock: GitLockEntry };
  decl?: DepDecl; // the governing declaration, when some mix.exs declares it
  topLevel: boolean;
  env: string; // MIX_ENV it is compiled with
  manager: string | null; // `manager:` from its declaration
  inputs: string[]; // apps of its declared dependencies that are in the closure, sorted
  optionalInputs: string[]; // those of them it declares with optional: true
  dest: string; // deps/APP
  build: string; // _build/ENV/lib/APP
}

export interface DepsClosure {
  nodes: Map<string, DepNode>; // in dependency order: inputs before dependents
  pathDeps: string[]; // path dependencies: compiled by Mix, left alone
}

export interface ClosureInput {
  project: MixProjectInfo;
  lock: MixLock;
  // The declarations of a git or path dependency's own mix.exs (read in `env`), or of
  // none for packages that are not Mix projects. Called once per such dependency.
  childrenOf(app: string, dir: string, env: string): Promise<DepDecl[]>;
  // For git dependencies: the directory holding its checkout at the locked commit.
  gitCheckout(app: string, lock: GitLockEntry): Promise<string>;
}

function applies(d: DepDecl, env: string): boolean {
  if (d.only !== null && !d.only.includes(env)) return false;
  if (d.targets !== null && !d.targets.includes("host")) return false;
  return true;
}

function checkSupported(d: DepDecl): void {
  if (d.unsupported.length > 0) {
    throw new BeamixError(`${d.from}: dependency ${d.app} uses ${d.unsupported.map((o) => `${o}:`).join(", ")}, which beamix deps does not support; compile it with mix deps.compile instead`);
  }
  if (d.scm === "other") throw new BeamixError(`${d.from}: dependency ${d.app} comes from ${d.scmModule.replace(/^Elixir\./, "")}, an SCM beamix deps does not know`);
}

export async function dependencyClosure(input: ClosureInput): Promise<DepsClosure> {
  const { project, lock } = input;
  const lockfile = project.lockfile;
  const stale = (msg: string): never => {
    throw new BeamixError(`${lockfile}: ${msg}; run mix deps.get`);
  };

  const topDecls = project.deps.filter((d) => applies(d, project.mixEnv));
  const top = new Map(topDecls.map((d) => [d.app, d]));
  for (const d of topDecls) checkSupported(d);

  // Edges out of each app (and out of the project, key ""), discovered as apps are reached.
  const edges = new Map<string, DepEdge[]>();
  const childDecls = new Map<string, DepDecl>(); // first declaration of an app seen in a dependency's mix.exs
  const pathDeps = new Set<string>();
  const nodes = new Map<string, DepNode>();
  edges.set("", topDecls.map((d) => ({ app: d.app, requirement: d.requirement, optional: false, from: "mix.exs" })));

  const declOf = (app: string): DepDecl | undefined => top.get(app) ?? childDecls.get(app);

  // Reads what an app needs, once; returns its edges.
  const expand = async (app: string): Promise<void> => {
    if (edges.has(app)) return;
    edges.set(app, []); // placeholder against re-entry
    const decl = declOf(app);
    if (decl?.scm === "path") {
      pathDeps.add(app);
      const children = (await input.childrenOf(app, decl.path!, decl.env)).filter((c) => applies(c, decl.env));
      edges.set(app, declare(app, children));
      return;
    }
    const entry = lock.get(app);
    if (entry === undefined) return stale(`${app} is not locked (needed by ${whoNeeds(app)})`);
    if (entry.kind === "other") return stale(`the entry of ${app} is neither a Hex nor a git lock`);
    const env = decl?.env ?? "prod";
    if (entry.kind === "hex") {
      if (decl && decl.scm !== "hex") return stale(`${app} is locked as a Hex package, but ${decl.from} takes it from ${decl.scm}`);
      if (decl?.hex && (decl.hex.package !== entry.package || decl.hex.repo !== lockEntryRepo(entry))) {
        return stale(`${app} is locked as ${lockEntryRepo(entry)}/${entry.package}, but ${decl.from} asks for ${decl.hex.repo}/${decl.hex.package}`);
      }
      if (entry.deps === undefined || entry.innerChecksum === undefined) return stale(`the entry of ${app} was written by an old Hex`);
      const e: DepEdge[] = entry.deps.map((d) => ({ app: d.app, requirement: d.requirement, optional: d.optional, from: app }));
      edges.set(app, e);
      nodes.set(app, node(app, { kind: "hex", lock: entry }, decl, env));
      return;
    }
    if (!decl || decl.scm !== "git") return stale(`${app} is locked as a git dependency, but no mix.exs in the closure declares it with git:`);
    if (entry.url !== decl.git!.url || !sameOpts(entry.opts, decl.git!.lockOpts)) {
      return stale(`the git entry of ${app} (${entry.url}) does not match ${decl.from}`);
    }
    const dir = await input.gitCheckout(app, entry);
    const children = (await input.childrenOf(app, dir, env)).filter((c) => applies(c, env));
    edges.set(app, declare(app, children));
    nodes.set(app, node(app, { kind: "git", lock: entry }, decl, env));
  };

  const declare = (parent: string, children: DepDecl[]): DepEdge[] => {
    for (const c of children) {
      checkSupported(c);
      if (!top.has(c.app) && !childDecls.has(c.app)) childDecls.set(c.app, c);
    }
    return children.map((c) => ({ app: c.app, requirement: c.requirement, optional: c.optional, from: parent }));
  };

  const node = (app: string, source: DepNode["source"], decl: DepDecl | undefined, env: string): DepNode => ({
    app,
    source,
    ...(decl ? { decl } : {}),
    topLevel: top.has(app),
    env,
    manager: decl?.manager ?? null,
    inputs: [],
    optionalInputs: [],
    // A dependency's own mix.exs was read where it is checked out; Mix keeps every dependency
    // under the project's deps and build paths.
    dest: top.has(app) ? top.get(app)!.dest : join(project.depsPath, app),
    build: top.has(app) ? top.get(app)!.build : join(project.buildPath, "lib", app),
  });

  const whoNeeds = (app: string): string => {
    const parents = [...edges].filter(([, es]) => es.some((e) => e.app === app)).map(([p]) => (p === "" ? "mix.exs" : p));
    return parents.join(", ") || "?";
  };

  // Grow the closure to a fixpoint: required edges pull apps in, optional ones never do.
  const included = new Set<string>();
  const queue = topDecls.map((d) => d.app);
  while (queue.length > 0) {
    const app = queue.shift()!;
    if (included.has(app)) continue;
    included.add(app);
    await expand(app);
    for (const e of edges.get(app) ?? []) if (!e.optional && !included.has(e.app)) queue.push(e.app);
  }

  // Inputs, and the version requirements every declaration in the closure puts on each app.
  for (const [parent, es] of edges) {
    if (parent !== "" && !included.has(parent)) continue;
    for (const e of es) {
      if (!included.has(e.app)) continue;
      const n = nodes.get(parent);
      if (n && !n.inputs.includes(e.app)) {
        n.inputs.push(e.app);
        if (e.optional) n.optionalInputs.push(e.app);
      }
      if (pathDeps.has(e.app) && parent !== "" && !pathDeps.has(parent)) {
        throw new BeamixError(`${e.app} is a path dependency of this project, but ${parent} (built by beamix) needs it: beamix cannot build against a path dependency`);
      }
      const target = nodes.get(e.app);
      const overridden = parent !== "" && top.get(e.app)?.override === true;
      if (target?.source.kind === "hex" && e.requirement !== null && !overridden) {
        const version = target.source.lock.version;
        if (tryParseVersion(version) === undefined) stale(`${e.app} is locked at an invalid version ${JSON.stringify(version)}`);
        let ok: boolean;
        try {
          ok = matches(version, e.requirement);
        } catch {
          throw new BeamixError(`${parent === "" ? "mix.exs" : parent}: invalid requirement ${JSON.stringify(e.requirement)} for ${e.app}`);
        }
        if (!ok) stale(`${e.app} is locked at ${version}, but ${e.from} requires ${e.requirement}`);
      }
    }
  }
  for (const n of nodes.values()) {
    n.inputs.sort();
    n.optionalInputs.sort();
  }

  return { nodes: topoSort(nodes), pathDeps: [...pathDeps].sort() };
}

// Keyword lists compared as Mix compares them: same keys in the same order, equal values.
function sameOpts(a: [string, Term][], b: [string, Term][]): boolean {
  if (a.length !== b.length) return false;
  return a.every(([k, v], i) => b[i][0] === k && compareTerms(v, b[i][1], { exact: true }) === 0);
}

function topoSort(nodes: Map<string, DepNode>): Map<string, DepNode> {
  const out = new Map<string, DepNode>();
  const visiting = new Set<string>();
  const visit = (app: string, path: string[]) => {
    if (out.has(app)) return;
    if (visiting.has(app)) throw new BeamixError(`dependency cycle: ${[...path, app].join(" → ")}`);
    visiting.add(app);
    const n = nodes.get(app)!;
    for (const i of n.inputs) if (nodes.has(i)) visit(i, [...path, app]);
    visiting.delete(app);
    out.set(app, n);
  };
  for (const app of [...nodes.keys()].sort()) visit(app, []);
  return out;
}
