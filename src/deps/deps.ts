// `beamix deps`: compiled dependencies for an existing Mix project, so that the unmodified
// `mix compile` then compiles only the project's own code.
//
//   mix.exs + mix.lock + MIX_ENV       (mix-query.ts: asked of Mix itself)
//   → the closure of locked deps       (closure.ts)
//   → definitions from the locked sources, verified (plan-from-lock.ts)
//   → store items, each for exactly the project config it reads (realize-deps.ts, compile-env.ts),
//     found in the store, substituted from a binary cache, or built
//   → deps/APP and _build/ENV/lib/APP as Hex and Mix leave them (materialize.ts)
//
// The project's own _build/ENV/lib/<app> and anything not in the closure are left alone.
import { createHash } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import type { CompileConfig } from "../derivation/config.ts";
import type { HexRepo } from "../hex/registry/client.ts";
import { readMixLockFile } from "../mix/lock.ts";
import { readConfigFile } from "../project/config-reader.ts";
import type { FailedBuild } from "../realize/realize.ts";
import type { Progress } from "../realize/progress.ts";
import type { Store } from "../store/store.ts";
import type { Substituters } from "../substitute/substituters.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import { dependencyClosure } from "./closure.ts";
import { fetchGitCommit, checkoutGitCommit } from "./git.ts";
import { materializeDeps, rebarConfigsOf, type MaterializedDep } from "./materialize.ts";
import { readDepChildren, readMixProject, type MixProjectInfo } from "./mix-query.ts";
import { planFromLock } from "./plan-from-lock.ts";
import { realizeDeps, type RealizedDep } from "./realize-deps.ts";
import type { ConfigRead } from "./compile-env.ts";

export interface DepsOptions {
  projectDir: string;
  mixEnv?: string; // default: MIX_ENV, else dev (as Mix)
  store: Store;
  toolchain: Toolchain;
  repos: ReadonlyMap<string, HexRepo>; // by repository name
  cacheDir: string; // git repositories are cached under it
  jobs: number;
  keepGoing?: boolean;
  keepFailed?: boolean;
  sandbox: boolean;
  timeoutMs: number;
  progress?: Progress;
  check?: boolean; // report what would change; build and write nothing
  link?: "copy" | "hardlink"; // how _build gets the store's files (default copy)
  definitionDirs?: readonly string[];
  workRoot?: string; // where build and scratch directories are made (default: the system's temp dir)
  substituters?: Substituters; // asked before building (not with check: that only looks in the store)
  fallback?: boolean; // build when trusted substitutes exist but all fail (default true)
}

export interface DepReport {
  app: string;
  name: string;
  version: string;
  source: "hex" | "git";
  item: string | null; // store path; null when not built (check, or a failure)
  status: "built" | "substituted" | "present" | "missing" | "failed" | "skipped";
  substitutedFrom?: string; // the cache's URL
  reads: ConfigRead[] | null; // compile-time config it reads (null: not known yet)
  deps: MaterializedDep["deps"] | null;
  build: MaterializedDep["build"] | null;
  reasons: string[];
}

export interface DepsReport {
  project: { app: string; dir: string; mixEnv: string; buildPath: string; depsPath: string };
  packages: DepReport[]; // in dependency order
  pathDeps: string[];
  failed: FailedBuild[];
  skipped: { name: string; reason: string }[];
  changed: boolean; // something was (or, with check, would be) built or written
  // The store items the project now uses: what `beamix deps --push` uploads; the deriver of
  // each records its compile-env basis and reads, which go to the cache as hints.
  items: RealizedDep[];
}

// GC roots for the items a project uses, one per package, named after the project directory
// and MIX_ENV; the roots of packages it no longer uses are removed. (_build holds copies, so
// the project works without them; they spare a rebuild after `beamix gc`.)
async function rootItems(store: Store, project: MixProjectInfo, items: ReadonlyMap<string, RealizedDep>): Promise<void> {
  const key = createHash("sha256").update(`${project.dir}\0${project.mixEnv}`).digest("hex").slice(0, 16);
  const prefix = `deps-${key}-`;
  const want = new Map([...items.values()].map((i) => [`${prefix}${i.name}`, i.path]));
  for (const r of await store.listRoots()) if (r.name.startsWith(prefix) && !want.has(r.name)) await store.removeRoot(r.name);
  for (const [name, path] of want) await store.addRoot(name, path);
}

async function fileExists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

// The project's compile-time config. Evaluating it starts an Elixir VM, as asking Mix about the
// project does: Mix's default config path is read at the same time as the project (`early`), and
// used when Mix says that is the path.
async function projectConfigOf(project: MixProjectInfo, mixEnv: string, early: { path: string; config: Promise<CompileConfig | undefined> }): Promise<CompileConfig> {
  if (project.configPath === early.path) {
    const config = await early.config;
    if (config !== undefined) return config;
  }
  return (await fileExists(project.configPath)) ? readConfigFile(project.configPath, mixEnv) : {};
}

export async function syncDeps(opts: DepsOptions): Promise<DepsReport> {
  const mixEnv = opts.mixEnv || process.env.MIX_ENV || "dev";
  const defaultConfig = resolve(opts.projectDir, "config", "config.exs");
  const early = {
    path: defaultConfig,
    // undefined: no such file; an error is kept for the case where it turns out to matter.
    config: fileExists(defaultConfig).then((yes) => (yes ? readConfigFile(defaultConfig, mixEnv) : undefined)),
  };
  early.config.catch(() => {}); // awaited later, or not needed
  const project = await readMixProject(opts.projectDir, mixEnv);
  const lock = await readMixLockFile(project.lockfile);
  const projectConfig = await projectConfigOf(project, mixEnv, early);

  const scratch = await mkdtemp(join(opts.workRoot ?? tmpdir(), "beamix-deps-"));
  let rebarConfigs: Map<string, Promise<Buffer>> | undefined;
  try {
    // Git dependencies are checked out (from a cache) before their mix.exs can be read.
    const git = new Map<string, { dir: string; version: string; cache: string }>();
    const closure = await dependencyClosure({
      project,
      lock,
      async gitCheckout(app, entry) {
        const cache = await fetchGitCommit(entry.url, entry.rev, opts.cacheDir);
        const dir = join(scratch, "git", app);
        await checkoutGitCommit(cache, entry.url, entry.rev, dir);
        git.set(app, { dir, version: "", cache });
        return dir;
      },
      async childrenOf(app, dir, env) {
        if (!(await fileExists(join(dir, "mix.exs")))) {
          throw new BeamixError(`${dir}: dependency ${app} is not a Mix project (no mix.exs); beamix deps supports Mix projects as git and path dependencies`);
        }
        const read = await readDepChildren(app, dir, env);
        const g = git.get(app);
        if (g) {
          if (read.version === null) throw new BeamixError(`${dir}/mix.exs: git dependency ${app} has no version`);
          g.version = read.version;
        }
        return read.deps;
      },
    });
    const packages = await planFromLock(closure, { repos: opts.repos, definitionDirs: opts.definitionDirs, git });
    // Mix's mix.rebar.config of rebar3 packages needs an Elixir VM each: asked now, while the
    // packages are realized.
    rebarConfigs = rebarConfigsOf(packages.values(), scratch);

    const realized = await realizeDeps(packages, {
      store: opts.store,
      toolchain: opts.toolchain,
      jobs: opts.jobs,
      keepGoing: opts.keepGoing,
      keepFailed: opts.keepFailed,
      sandbox: opts.sandbox,
      timeoutMs: opts.timeoutMs,
      progress: opts.progress,
      projectConfig,
      lookupOnly: opts.check,
      ...(opts.workRoot ? { workRoot: opts.workRoot } : {}),
      ...(opts.substituters && !opts.check ? { substituters: opts.substituters, fallback: opts.fallback } : {}),
    });

    if (!opts.check) await rootItems(opts.store, project, realized.items);

    // Only a complete set is written: a half-updated deps/ would fail in Mix anyway.
    const complete = realized.failed.length === 0 && (opts.check || realized.skipped.length === 0);
    const materialized = complete
      ? await materializeDeps({ project, packages, items: realized.items, check: opts.check ?? false, link: opts.link ?? "copy", scratch, rebarConfigs })
      : [];
    const byApp = new Map(materialized.map((m) => [m.app, m]));
    const failed = new Set(realized.failed.map((f) => f.name));
    const skipped = new Set(realized.skipped.map((s) => s.name));
    const missing = new Set(realized.missing);

    const reports: DepReport[] = [...packages.values()].map((p) => {
      const item = realized.items.get(p.name);
      const m = byApp.get(p.app);
      const status: DepReport["status"] = item ? item.status : failed.has(p.name) ? "failed" : missing.has(p.name) || (opts.check && skipped.has(p.name)) ? "missing" : "skipped";
      return {
        app: p.app,
        name: p.name,
        version: p.version,
        source: p.node.source.kind,
        item: item?.path ?? null,
        status,
        ...(item?.substitutedFrom !== undefined ? { substitutedFrom: item.substitutedFrom } : {}),
        reads: item?.reads ?? null,
        deps: m?.deps ?? null,
        build: m?.build ?? null,
        reasons: m?.reasons ?? [],
      };
    });
    const changed = reports.some((r) => r.status === "built" || r.status === "substituted" || r.status === "missing" || (r.deps !== null && r.deps !== "unchanged") || (r.build !== null && r.build !== "unchanged"));
    return {
      project: { app: project.app, dir: project.dir, mixEnv: project.mixEnv, buildPath: project.buildPath, depsPath: project.depsPath },
      packages: reports,
      pathDeps: closure.pathDeps,
      failed: realized.failed,
      skipped: opts.check ? [] : realized.skipped,
      changed,
      items: [...realized.items.values()],
    };
  } finally {
    await Promise.allSettled(rebarConfigs?.values() ?? []); // they work in scratch
    await rm(scratch, { recursive: true, force: true });
  }
}
