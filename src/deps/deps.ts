// `beamix deps`: compiled dependencies for an existing Mix project, so that the unmodified
// `mix compile` then compiles only the project's own code.
//
//   mix.exs + mix.lock + MIX_ENV       (mix-query.ts: asked of Mix itself, in one Elixir VM
//                                       that also evaluates the project's config)
//   → the closure of locked deps       (closure.ts)
//   → definitions from the locked sources, verified (plan-from-lock.ts)
//   → store items, each for exactly the project config it reads (src/derivation/compile-env.ts),
//     found in the store, substituted from a binary cache, or built: the same engine and the
//     same identities as `beamix build` and `install` (src/realize/realize.ts)
//   → deps/APP and _build/ENV/lib/APP as Hex and Mix leave them (materialize.ts)
//
// The project's own _build/ENV/lib/<app> and anything not in the closure are left alone.
import { sha256Hex } from "../util/sha256.ts";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import type { FetchedTarball, HexRepo } from "../hex/registry/client.ts";
import { lockEntryRepo, readMixLockFile } from "../mix/lock.ts";
import { realize, type RealizedItem } from "../realize/realize.ts";
import { identifyKnown, type Plan } from "../realize/plan.ts";
import { addPluginInputs } from "../realize/build-inputs.ts";
import type { Progress } from "../realize/progress.ts";
import type { Store } from "../store/store.ts";
import type { Substituters } from "../substitute/client/substituters.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import { dependencyClosure } from "./closure.ts";
import { fetchGitCommit, checkoutGitCommit } from "./git.ts";
import { discardStagedDeps, materializeDeps, rebarConfigsOf, stageBuild, stageDeps, type FreshTrees, type StagedDeps } from "./materialize.ts";
import type { MixProjectInfo } from "./mix-answer-terms.ts";
import { openMixSession, type MixSession } from "./mix-query.ts";
import { planFromLock } from "./plan-from-lock.ts";
import { canonicalConfig, type CompileConfig } from "../derivation/config.ts";
import type { DepReport, DepsReport } from "./report.ts";
import { unchangedReport } from "./report.ts";
import { moveTerm } from "./relocate-answers.ts";
import { PROJECT_MARK } from "./moved-path.ts";
import { depsRootPrefix } from "../inspect/projects.ts";
import { depsStateFile, depsStateKey, keyedJson, lastItems, readDepsState, saveDepsState, stampTrees, unchangedState } from "./deps-state.ts";
import type { BuildLimits } from "../builder/build-package.ts";

export type RealizedDep = RealizedItem;
export type { DepReport, DepsItem, DepsReport } from "./report.ts";
export { unchangedReport } from "./report.ts";

export interface DepsOptions {
  projectDir: string;
  mixEnv?: string; // default: MIX_ENV, else dev (as Mix)
  store: Store;
  toolchain: Toolchain | Promise<Toolchain>; // a promise: detected while Mix reads the project
  repos: ReadonlyMap<string, HexRepo>; // by repository name
  cacheDir: string; // git repositories are cached under it
  jobs: number;
  keepGoing?: boolean;
  keepFailed?: boolean;
  sandbox: boolean;
  timeoutMs: number;
  limits?: BuildLimits; // of each build
  progress?: Progress;
  check?: boolean; // report what would change; build and write nothing
  link?: "copy" | "hardlink"; // how _build gets the store's files (default copy)
  definitionDirs?: readonly string[];
  workRoot?: string; // where build and scratch directories are made (default: the system's temp dir)
  substituters?: Substituters; // asked before building (not with check: that only looks in the store)
  fallback?: boolean; // build when trusted substitutes exist but all fail (default true)
  // Mix's session on this project in this MIX_ENV (depsMixEnv), when the caller opened it ahead
  // to get the VM started; syncDeps closes it.
  mix?: MixSession;
  // Told, when the run left everything in place, what a later run can compare with instead of
  // running at all (src/deps/unchanged-replay.ts): the state file and its key, the files Mix's
  // answers and the lock came from (undefined: they may depend on more), and the items used.
  onSettled?: (settled: SettledRun) => void;
}

export interface SettledRun {
  stateFile: string;
  stateKey: string;
  inputs: string[] | undefined;
  items: string[];
  roots: string[]; // the GC root links that keep the items
  // What a fresh checkout of the project can be filled from (checkout-restore.ts), when this run
  // wrote or compared every directory (not when it ended early).
  written?: WrittenRun;
}

export interface WrittenRun {
  project: MixProjectInfo;
  // fresh: what a checkout without either directory gets (materialize.ts)
  packages: { app: string; source: "hex" | "git"; dest: string; build: string; fresh?: FreshTrees }[];
  storeDir: string;
  link: "copy" | "hardlink";
  report: DepsReport;
  portableState: string; // stateKeyOf's, shared with the project's restore record
}

// The MIX_ENV beamix deps prepares: the one asked for, else MIX_ENV, else dev (as Mix).
export function depsMixEnv(asked?: string): string {
  return asked || process.env.MIX_ENV || "dev";
}

// The toolchain as a run's outcome depends on it: what identities are computed from.
export const toolchainIdentity = (tc: Toolchain): (string | null)[] => [tc.otpVersion, tc.ertsVersion, tc.nifVersion, tc.targetTriple, tc.elixirVersion, tc.rebar3Version];

// What a run's outcome depends on besides the files it leaves, the store and how _build gets its
// files (deps-state.ts), as text that is the same in any checkout of the project on any machine:
// the project's paths marked, as the state key does. A record shared with other machines carries
// it (shared-restore.ts), so that their state key is the one a full run there would compute.
function portableState(project: MixProjectInfo, config: CompileConfig, lockBytes: Buffer, tc: Toolchain): string {
  // Config values under the project (Path.expand(..., __DIR__)) as the key's other paths.
  const placed = Object.fromEntries(Object.entries(config).map(([app, kv]) => [app, Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, moveTerm(v, project.dir, PROJECT_MARK)]))]));
  const parts = { project, config: canonicalConfig(placed), lock: sha256Hex(lockBytes), toolchain: toolchainIdentity(tc) };
  return keyedJson(parts, project.dir);
}

// The state key of a run in `projectDir` with this portable state, store and link.
export function stateKeyOf(portable: string, projectDir: string, store: string, link: "copy" | "hardlink"): string {
  return depsStateKey({ portable, store, link }, projectDir);
}

const stateKey = (portable: string, project: MixProjectInfo, opts: DepsOptions): string => stateKeyOf(portable, project.dir, opts.store.dir, opts.link ?? "copy");

async function settled(opts: DepsOptions, mix: MixSession, project: MixProjectInfo, stateFile: string, stateKey: string, items: string[], roots: string[], written?: WrittenRun): Promise<void> {
  if (!opts.onSettled) return;
  const answered = mix.answerInputs ? await mix.answerInputs() : undefined;
  opts.onSettled({ stateFile, stateKey, inputs: answered && [...answered, project.lockfile], items, roots, ...(written ? { written } : {}) });
}

// GC roots for the items a project uses, one per package, named after the project directory
// and MIX_ENV; the roots of packages it no longer uses are removed. (_build holds copies, so
// the project works without them; they spare a rebuild after `beamix gc`.)
const rootPrefix = (project: MixProjectInfo): string => depsRootPrefix(project.dir, project.mixEnv);

// The project's GC roots, one per item; returns their links.
async function rootItems(store: Store, project: MixProjectInfo, items: ReadonlyMap<string, Pick<RealizedDep, "name" | "path">>): Promise<string[]> {
  const prefix = rootPrefix(project);
  const want = new Map([...items.values()].map((i) => [`${prefix}${i.name}`, i.path]));
  const kept = new Map<string, string>(); // name -> link
  for (const r of await store.listRoots()) {
    if (!r.name.startsWith(prefix)) continue;
    // A root that already leads to its item is left alone: replacing it takes the gc lock.
    if (want.get(r.name) === r.item) kept.set(r.name, r.link);
    else if (!want.has(r.name)) await store.removeRoot(r.name);
  }
  const links = [...kept.values()];
  for (const [name, path] of want) if (!kept.has(name)) links.push(await store.addRoot(name, path));
  return links;
}

async function fileExists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

// Hex tarballs named in the project's mix.lock (at its usual place), fetched and verified while
// the Elixir VM reads the project; the plan takes them from here when it wants the same ones
// (Mix may name another lock file, and only the closure's packages are wanted). Failures are
// kept for the plan: a tarball it does not want is never awaited.
function prefetchTarballs(projectDir: string, repos: ReadonlyMap<string, HexRepo>): Promise<Map<string, Promise<FetchedTarball>>> {
  return readMixLockFile(resolve(projectDir, "mix.lock")).then(
    (lock) => {
      const out = new Map<string, Promise<FetchedTarball>>();
      for (const e of lock.values()) {
        if (e.kind !== "hex") continue;
        const repo = repos.get(lockEntryRepo(e));
        if (!repo) continue;
        const t = repo.tarball(e.package, e.version);
        t.catch(() => {});
        out.set(tarballKey(repo, e.package, e.version), t);
      }
      return out;
    },
    () => new Map(), // read again, and reported, once Mix names the lock
  );
}

// Lines reported before release are held, then passed on; after it, passed on at once.
function heldWarnings(): { report(line: string): void; release(to: (line: string) => void): void } {
  const held: string[] = [];
  let target: ((line: string) => void) | undefined;
  return {
    report: (line) => (target ? target(line) : held.push(line)),
    release(to) {
      target = to;
      for (const line of held.splice(0)) to(line);
    },
  };
}

const tarballKey = (repo: HexRepo, name: string, version: string) => `${repo.name}\0${name}\0${version}`;

export async function syncDeps(opts: DepsOptions): Promise<DepsReport> {
  // The one Elixir VM of the run: mix.exs, then the config, then what the closure and the
  // materialization ask. Everything below that does not need its answers runs meanwhile.
  const mix = opts.mix ?? openMixSession(opts.projectDir, depsMixEnv(opts.mixEnv));
  const scratch = mkdtemp(join(opts.workRoot ?? tmpdir(), "beamix-deps-"));
  scratch.catch(() => {});
  let rebarConfigs: Map<string, Promise<Buffer>> | undefined;
  let staged: StagedDeps | undefined;
  let failed = false;
  try {
    // Nothing changed since the last complete run: said at once, without asking a registry or
    // reading a tarball. Only when Mix's answers came from its cache (no VM to wait for anyway),
    // and without definition directories (their files are not part of the state's key).
    const stateFile = opts.check || (opts.definitionDirs?.length ?? 0) > 0 ? undefined : depsStateFile(opts.cacheDir, resolve(opts.projectDir), depsMixEnv(opts.mixEnv));
    // Without a state file there is nothing to compare: the toolchain (maybe an erl run on a
    // machine that never ran beamix) is then not waited for before the tarballs are fetched.
    const lastState = stateFile ? readDepsState<DepsReport>(stateFile) : undefined;
    if (stateFile && lastState !== undefined && (await mix.answeredFromCache)) {
      const [tc, project, config] = await Promise.all([opts.toolchain, mix.project, mix.config]);
      const lockBytes = await readFile(project.lockfile).catch(() => undefined);
      const key = lockBytes && stateKey(portableState(project, config, lockBytes, tc), project, opts);
      const state = key && (await unchangedState(lastState, key, (p) => opts.store.isValid(p)));
      if (key && state) {
        const roots = await rootItems(opts.store, project, new Map(state.report.items.map((i) => [i.name, i])));
        await settled(opts, mix, project, stateFile, key, state.items, roots);
        return unchangedReport(state.report);
      }
    }
    const prefetched = prefetchTarballs(opts.projectDir, opts.repos);
    // The caches are asked for their cache-info now; what they say about unusable caches is held
    // until the packages are realized, where it was reported when they were first asked there.
    const cacheWarnings = heldWarnings();
    if (opts.substituters && !opts.check) void opts.substituters.caches(cacheWarnings.report);
    const toolchain = Promise.resolve(opts.toolchain);
    toolchain.catch(() => {});
    // As when the toolchain was detected before Mix was asked: its failure is the one reported.
    const [tc, projectRead] = await Promise.allSettled([toolchain, mix.project]);
    if (tc.status === "rejected") throw tc.reason;
    if (projectRead.status === "rejected") throw projectRead.reason;
    const project = projectRead.value;
    const lock = await readMixLockFile(project.lockfile);
    const projectConfig = await mix.config;

    // Git dependencies are checked out (from a cache) before their mix.exs can be read.
    const git = new Map<string, { dir: string; version: string; cache: string }>();
    const closure = await dependencyClosure({
      project,
      lock,
      async gitCheckout(app, entry) {
        const cache = await fetchGitCommit(entry.url, entry.rev, opts.cacheDir);
        const dir = join(await scratch, "git", app);
        await checkoutGitCommit(cache, entry.url, entry.rev, dir);
        git.set(app, { dir, version: "", cache });
        return dir;
      },
      async childrenOf(app, dir, env) {
        if (!(await fileExists(join(dir, "mix.exs")))) {
          throw new BeamixError(`${dir}: dependency ${app} is not a Mix project (no mix.exs); beamix deps supports Mix projects as git and path dependencies`);
        }
        const read = await mix.children(app, dir, env);
        const g = git.get(app);
        if (g) {
          if (read.version === null) throw new BeamixError(`${dir}/mix.exs: git dependency ${app} has no version`);
          g.version = read.version;
        }
        return read.deps;
      },
    });
    const tarballs = await prefetched;
    const packages = await planFromLock(closure, {
      repos: opts.repos,
      definitionDirs: opts.definitionDirs,
      git,
      tarball: (repo, name, version) => tarballs.get(tarballKey(repo, name, version)) ?? repo.tarball(name, version),
    });
    // Mix's mix.rebar.config of rebar3 packages: asked of the session now, while the packages
    // are realized. Then nothing more is asked, and the VM exits.
    rebarConfigs = rebarConfigsOf(packages.values(), await scratch, (app, dir) => mix.rebarConfig(app, dir));
    void Promise.allSettled(rebarConfigs.values()).then(() => mix.end());
    // deps/APP needs only the sources: compared, and new trees built beside it, meanwhile too.
    staged = stageDeps({ project, packages, check: opts.check ?? false });
    const depsStaged = staged;
    // _build/ENV/lib/APP too, each as soon as its item is realized (written only if all are).
    const materializing = { project, packages, check: opts.check ?? false, link: opts.link ?? "copy", scratch: await scratch, rebarConfigs } as const;
    cacheWarnings.release((message) => opts.progress?.event({ type: "warning", message }));

    const plan: Plan = { roots: [...packages.keys()], packages: new Map(packages), projectConfig };
    // rebar3 plugins are build-only packages of the plan, never of `packages` (what deps writes).
    await addPluginInputs(plan, { repos: opts.repos });
    await identifyKnown(plan, tc.value, opts.store);
    const realized = await realize(plan, {
      store: opts.store,
      toolchain: tc.value,
      jobs: opts.jobs,
      keepGoing: opts.keepGoing,
      keepFailed: opts.keepFailed,
      sandbox: opts.sandbox,
      timeoutMs: opts.timeoutMs,
      ...(opts.limits ? { limits: opts.limits } : {}),
      progress: opts.progress,
      lookupOnly: opts.check,
      ...(opts.check ? {} : { onRealized: (item: RealizedDep) => packages.has(item.name) && stageBuild(depsStaged, materializing, packages.get(item.name)!, item) }),
      ...(opts.workRoot ? { workRoot: opts.workRoot } : {}),
      ...(opts.substituters && !opts.check ? { substituters: opts.substituters, fallback: opts.fallback } : {}),
    });

    const roots = opts.check ? [] : await rootItems(opts.store, project, realized.items);

    // Only a complete set is written: a half-updated deps/ would fail in Mix anyway.
    const complete = realized.failed.length === 0 && (opts.check || realized.skipped.length === 0);
    const materialized = complete
      ? await materializeDeps({ ...materializing, items: realized.items, staged, previousItems: stateFile ? await lastItems(stateFile) : undefined })
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
    const report: DepsReport = {
      project: { app: project.app, dir: project.dir, mixEnv: project.mixEnv, buildPath: project.buildPath, depsPath: project.depsPath },
      packages: reports,
      pathDeps: closure.pathDeps,
      failed: realized.failed,
      skipped: opts.check ? [] : realized.skipped,
      changed,
      // By name: the same report whichever build finished first.
      items: [...realized.items.values()]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map(({ name, version, app, path, drvHash, status, reads }) => ({ name, version, app, path, drvHash, status, reads })),
    };
    // What the next run compares with, when this one left everything in place.
    if (stateFile && complete && report.failed.length === 0 && report.skipped.length === 0) {
      const lockBytes = await readFile(project.lockfile).catch(() => undefined);
      if (lockBytes) {
        const stamps = stampTrees([...packages.values()].flatMap((p) => [p.node.dest, p.node.build]));
        const portable = portableState(project, projectConfig, lockBytes, tc.value);
        const key = stateKey(portable, project, opts);
        const items = report.items.map((i) => i.path);
        const written: WrittenRun = {
          project,
          packages: [...packages.values()].map((p) => ({ app: p.app, source: p.node.source.kind, dest: p.node.dest, build: p.node.build, fresh: byApp.get(p.app)?.fresh })),
          storeDir: opts.store.dir,
          link: opts.link ?? "copy",
          report,
          portableState: portable,
        };
        if (await saveDepsState(stateFile, { key, items, stamps, report })) await settled(opts, mix, project, stateFile, key, items, roots, written);
      }
    }
    return report;
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // After a failure nothing the VM could still answer is wanted: it is stopped.
    const closed = mix.close(failed);
    await Promise.allSettled(rebarConfigs?.values() ?? []); // they work in scratch
    await closed;
    if (staged) await discardStagedDeps(staged); // what was not put in place
    const dir = await scratch.catch(() => undefined);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}
