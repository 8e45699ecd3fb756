// Writing a project's deps/APP and _build/ENV/lib/APP as `mix deps.get` and
// `mix deps.compile` leave them, from the locked sources and the store items:
//
// deps/APP (Hex)   the package's files, hex_metadata.config (the tarball's metadata.config,
//                  byte for byte), .hex (Hex's manifest) and .fetch (empty, Mix 1.14-1.16)
// deps/APP (git)   a clone at the locked commit whose origin is the locked URL, and .fetch
// _build/ENV/lib/APP
//                  ebin/ copied (or hard-linked) from the store item, never symlinked into
//                  the read-only store where Mix may write; include/ and priv/ as Mix makes
//                  them: a relative symlink to deps/APP/DIR when the item's DIR is the
//                  package's own, else a copy of the item's (built files, like a NIF);
//                  .mix/compile.fetch (empty, not older than deps/APP/.fetch; up to Mix 1.18);
//                  .mix/compile.elixir_scm for Mix-built packages with Elixir code (up to
//                  Mix 1.18), for every package (from 1.19; with its mix.lock entry from 1.20);
//                  mix.rebar.config for rebar3 packages (Mix's own text, from Mix.Rebar).
// Which of these markers the project's Mix version leaves: mix-dep-markers.ts. When a
// _build/ENV/lib/APP is rewritten, the project's own .mix/compile.lock is touched, as Mix's
// will_recompile does, so that the next `mix compile` compiles the project against it.
// Mix's other manifests (compile.elixir, compile.app_tracer) are not written: Mix reads them
// only when it compiles the dependency itself, and then a missing one means "compile all".
//
// A directory is rewritten only when it differs from what it should be, by replacing it
// whole (built beside it, then renamed into place); so running twice changes nothing the
// second time, and `check` reports the same differences without writing.
//
// deps/APP depends only on the locked source, so its new trees can be built (stageDeps) while
// the packages are realized; they are renamed into place by materializeDeps, or removed
// (discardStagedDeps) when not every package was realized and nothing is written.
import { chmodSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, utimes, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { BeamixError } from "../errors.ts";
import { readContents } from "../hex/unpack.ts";
import { readTarball } from "../hex/tarball.ts";
import { appLibDir } from "../store/item-layout.ts";
import { buildSystemModule } from "../build-system/registry.ts";
import { checkoutGitCommit, checkoutState } from "./git.ts";
import { GIT_SCM_MODULE, HEX_SCM_MODULE, elixirScmManifest, hexManifest } from "./mix-files.ts";
import { mixDepMarkers } from "./mix-dep-markers.ts";
import type { MixProjectInfo } from "./mix-answer-terms.ts";
import { mixRebarConfig } from "./mix-query.ts";
import type { LockedPackage } from "./plan-from-lock.ts";
import type { RealizedDep } from "./deps.ts";
import { Semaphore } from "../util/semaphore.ts";
import { diffTree, exists, impliedDirs, removeLeftovers, replaceDir, tmpSibling, writeTreeBeside, type Tree } from "./dir-tree.ts";

export type Change = "unchanged" | "create" | "update";

export interface MaterializedDep {
  app: string;
  name: string;
  version: string;
  deps: Change; // deps/APP
  build: Change | "pending"; // _build/ENV/lib/APP; pending: the package is not built yet (check)
  reasons: string[]; // why a directory is (or would be) rewritten
  // What this run writes into a checkout where neither directory exists (Hex packages, once
  // built): what checkout-restore.ts records, without reading back what was written.
  fresh?: FreshTrees;
}

// deps/APP as Hex unpacks it: every directory 0755, the package's files with their tar mode
// (both exact), all with one whole-second mtime; then the markers, hex_metadata.config, .hex and
// .fetch (0644 under the umask). _build/ENV/lib/APP as writeTreeBeside writes it: directories
// 0755 and inline files 0644/0755 under the umask, store files copied with their mode set
// exactly (or hard-linked), `last` (.mix/compile.fetch) after every other file.
export interface FreshTrees {
  deps: { dirs: string[]; files: Tree; markers: Tree };
  build: { tree: Tree; last: string };
}

export interface MaterializeOptions {
  project: MixProjectInfo;
  packages: ReadonlyMap<string, LockedPackage>;
  items: ReadonlyMap<string, RealizedDep>;
  check: boolean;
  link: "copy" | "hardlink";
  scratch: string; // an empty directory for temporary files
  rebarConfigs?: ReadonlyMap<string, Promise<Buffer>>; // by app, from rebarConfigsOf (else asked here)
  staged?: StagedDeps; // from stageDeps with the same project and packages (else done here)
  // The store items the project's _build held after the last complete run (deps-state.ts), when
  // known: the project is recompiled only when its dependencies' items are not those.
  previousItems?: ReadonlySet<string>;
}

// deps/APP of each package, compared with what it should be and, when it differs (and not
// with check), its new tree built beside it: settled per package, failures kept for
// materializeDeps to report.
export interface StagedDeps {
  readonly packages: Map<LockedPackage, Promise<DepsStage>>;
  // _build/ENV/lib/APP of packages realized so far (stageBuild), staged the same way.
  readonly builds: Map<LockedPackage, Promise<DirStage>>;
}

interface DirStage {
  exists: boolean;
  diff: string[]; // why the directory is rewritten; none: it is as it should be
  fresh?: string; // the new tree, to be renamed into place
  want?: Tree; // what it should hold
}
type DepsStage = DirStage;

// The package's own files, as unpacked from its tarball or checked out (and a Hex package's
// metadata.config text).
type SourceFiles = Map<string, { data: Buffer; exec: boolean; mode: number } | { symlink: string }> & { metadataText?: string; dirs?: Set<string> };

const EMPTY = Buffer.alloc(0);
const MATERIALIZE_JOBS = 6;
const MAX_REASONS = 3;

export async function materializeDeps(o: MaterializeOptions): Promise<MaterializedDep[]> {
  const staged = o.staged ?? stageDeps(o);
  // Packages touch disjoint directories: several at once, since this is mostly file I/O.
  const reports = await eachAtOnce([...o.packages.values()], async (p) => {
    const stage = staged.packages.get(p);
    if (!stage) throw new Error(`deps/ of ${p.app} was not staged`);
    return materializeOne(o, p, await stage, staged.builds.get(p));
  });
  const rewritten = reports.some((r) => r.build === "create" || r.build === "update");
  if (!o.check && rewritten && !sameItems(o.previousItems, o.items)) await touchProjectCompileLock(o.project);
  return reports;
}

// A _build rewritten with the very items the project was last given (a repair, copies turned
// into hard links) changes no code the project was compiled against.
function sameItems(before: ReadonlySet<string> | undefined, now: ReadonlyMap<string, RealizedDep>): boolean {
  if (before === undefined) return false;
  const paths = new Set([...now.values()].map((i) => i.path));
  return paths.size === before.size && [...paths].every((p) => before.has(p));
}

// Mix's will_recompile after deps.compile compiled a fetchable dependency: the project's
// manifests are then older than its config, so its next compile starts over. A project not
// compiled yet is compiled whole anyway, and its _build entry is not beamix's to make.
async function touchProjectCompileLock(project: MixProjectInfo): Promise<void> {
  const dir = join(project.buildPath, "lib", project.app, ".mix");
  if (!(await exists(dir))) return;
  const file = join(dir, "compile.lock");
  const now = new Date();
  await utimes(file, now, now).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
    await writeFile(file, EMPTY, { mode: 0o644 });
  });
}

// Compares every deps/APP with what it should be and, unless `check`, builds the new trees
// beside those that differ (after removing what an interrupted run left there).
export function stageDeps(o: Pick<MaterializeOptions, "project" | "packages" | "check">): StagedDeps {
  const packages = [...o.packages.values()];
  const cleaned = o.check ? Promise.resolve() : removeAllLeftovers(packages);
  const slots = new Semaphore(MATERIALIZE_JOBS);
  const stages = new Map<LockedPackage, Promise<DepsStage>>();
  for (const p of packages) {
    const stage = cleaned.then(() => slots.use(() => stageOne(o, p)));
    stage.catch(() => {}); // reported by materializeDeps, or not wanted
    stages.set(p, stage);
  }
  return { packages: stages, builds: new Map() };
}

// Starts staging _build/ENV/lib/APP of a package as soon as its item is realized, while the
// rest of the closure is realized (after its deps/APP stage: compile.fetch must not be older
// than deps/APP/.fetch).
export function stageBuild(staged: StagedDeps, o: Omit<MaterializeOptions, "items" | "staged">, p: LockedPackage, item: RealizedDep): void {
  const deps = staged.packages.get(p);
  if (!deps || staged.builds.has(p)) return;
  const stage = deps.then((d) => buildStage(o, p, item, d));
  stage.catch(() => {}); // reported by materializeDeps, or not wanted
  staged.builds.set(p, stage);
}


// Removes the new trees stageDeps built (nothing is written when not every package is realized).
export async function discardStagedDeps(staged: StagedDeps): Promise<void> {
  for (const stage of [...staged.packages.values(), ...staged.builds.values()]) {
    const fresh = await stage.then((s) => s.fresh, () => undefined);
    if (fresh !== undefined) await rm(fresh, { recursive: true, force: true });
  }
}

async function removeAllLeftovers(packages: LockedPackage[]): Promise<void> {
  const parents = new Set(packages.flatMap((p) => [dirname(p.node.dest), dirname(p.node.build)]));
  for (const dir of parents) await removeLeftovers(dir);
}

async function eachAtOnce<T, R>(xs: T[], f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < xs.length; i = next++) out[i] = await f(xs[i]);
  };
  await Promise.all(Array.from({ length: Math.min(MATERIALIZE_JOBS, xs.length) }, worker));
  return out;
}

// deps/APP: how it differs from what it should be, and (unless check) the new tree beside it.
async function stageOne(o: Pick<MaterializeOptions, "project" | "check">, p: LockedPackage): Promise<DepsStage> {
  const { node } = p;
  const source = await sourceFiles(p);
  const depsExists = await exists(node.dest);
  const depsFetch = mixDepMarkers(o.project.elixirVersion).depsFetch;
  let depsDiff: string[];
  let wantDeps: Tree | undefined;
  if (node.source.kind === "hex") {
    wantDeps = hexDepsTree(p, source, o.project.otpRelease, depsFetch);
    depsDiff = depsExists ? await diffTree(node.dest, wantDeps, { exact: false, builtInPlace: builtInPlace(p) }) : ["missing"];
  } else {
    const lock = node.source.lock;
    const state = depsExists ? await checkoutState(node.dest) : null;
    depsDiff = !depsExists ? ["missing"] : state === null ? ["not a git checkout"] : [];
    if (state && state.rev !== lock.rev) depsDiff.push(`checked out at ${state.rev}, locked at ${lock.rev}`);
    if (state && state.origin !== lock.url) depsDiff.push(`origin is ${state.origin}, locked ${lock.url}`);
    if (depsFetch && depsExists && !(await isFile(join(node.dest, ".fetch")))) depsDiff.push(".fetch: missing");
  }
  const stage: DepsStage = { exists: depsExists, diff: depsDiff, ...(wantDeps ? { want: wantDeps } : {}) };
  if (depsDiff.length > 0 && !o.check) stage.fresh = await stageDepsTree(p, wantDeps, depsFetch);
  return stage;
}

async function materializeOne(o: MaterializeOptions, p: LockedPackage, stage: DepsStage, built?: Promise<DirStage>): Promise<MaterializedDep> {
  const { node } = p;
  const report: MaterializedDep = { app: p.app, name: p.name, version: p.version, deps: "unchanged", build: "unchanged", reasons: [] };
  const note = (r: string) => {
    if (report.reasons.length < MAX_REASONS) report.reasons.push(r);
  };

  // deps/APP
  if (stage.diff.length > 0) {
    report.deps = stage.exists ? "update" : "create";
    stage.diff.forEach((r) => note(`${rel(o, node.dest)}: ${r}`));
    if (stage.fresh !== undefined) await replaceDir(stage.fresh, node.dest);
  }

  // _build/ENV/lib/APP
  const item = o.items.get(p.name);
  if (!item) {
    report.build = "pending";
    return report;
  }
  const b = await (built ?? buildStage(o, p, item, stage));
  if (b.diff.length > 0) {
    report.build = b.exists ? "update" : "create";
    if (report.deps === "unchanged") b.diff.forEach((r) => note(`${rel(o, node.build)}: ${r}`));
    if (b.fresh !== undefined) await replaceDir(b.fresh, node.build);
  }
  if (stage.want && b.want) report.fresh = freshTrees(stage.want, (await sourceFiles(p)).dirs, b.want);
  return report;
}

// _build/ENV/lib/APP: how it differs from what it should be, and (unless check) the new tree
// beside it. A rewritten deps/APP rewrites it too.
async function buildStage(o: Omit<MaterializeOptions, "items" | "staged">, p: LockedPackage, item: RealizedDep, deps: DepsStage): Promise<DirStage> {
  const { node } = p;
  const wantBuild = await buildTree(o, p, item, await sourceFiles(p));
  const buildExists = await exists(node.build);
  let diff = deps.diff.length > 0 ? ["deps/ was rewritten"] : buildExists ? await diffTree(node.build, wantBuild, { exact: true, link: o.link }) : ["missing"];
  const fetchChecked = mixDepMarkers(o.project.elixirVersion).compileFetch === "not-older-than-fetch";
  if (diff.length === 0 && fetchChecked && !(await fetchMarkerFresh(node.dest, node.build))) diff = [`${COMPILE_FETCH} is older than deps .fetch`];
  const stage: DirStage = { exists: buildExists, diff, want: wantBuild };
  if (diff.length > 0 && !o.check) stage.fresh = await writeTreeBeside(node.build, wantBuild, o.link, COMPILE_FETCH);
  return stage;
}

const rel = (o: MaterializeOptions, path: string): string => relative(o.project.dir, path) || ".";

async function isFile(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isFile() ?? false;
}

// Read once per package: the tarball is parsed and its contents inflated only here.
const sources = new WeakMap<LockedPackage, Promise<SourceFiles>>();

function sourceFiles(p: LockedPackage): Promise<SourceFiles> {
  let s = sources.get(p);
  if (!s) {
    s = readSourceFiles(p);
    sources.set(p, s);
  }
  return s;
}

async function readSourceFiles(p: LockedPackage): Promise<SourceFiles> {
  const files: SourceFiles = new Map();
  if (p.node.source.kind === "hex") {
    const t = readTarball(p.tarball, { file: `${p.name}-${p.version}.tar` });
    files.metadataText = t.metadataText;
    files.dirs = new Set();
    for (const e of readContents(t.contentsGz, { label: `${p.name}-${p.version}.tar: contents.tar.gz` })) {
      if (e.type === "file") files.set(e.path, { data: e.data, exec: e.mode === 0o755, mode: e.mode });
      else if (e.type === "symlink") files.set(e.path, { symlink: e.target });
      else if (e.type === "directory") files.dirs.add(e.path);
    }
    return files;
  }
  const walk = async (relDir: string) => {
    for (const name of await readdir(join(p.gitCheckout!, relDir))) {
      if (relDir === "" && name === ".git") continue;
      const path = relDir === "" ? name : `${relDir}/${name}`;
      const st = await lstat(join(p.gitCheckout!, path));
      if (st.isDirectory()) await walk(path);
      else if (st.isFile()) files.set(path, { data: await readFile(join(p.gitCheckout!, path)), exec: (st.mode & 0o100) !== 0, mode: st.mode & 0o7777 });
      else if (st.isSymbolicLink()) files.set(path, { symlink: await readlink(join(p.gitCheckout!, path)) });
    }
  };
  await walk("");
  return files;
}

// Files beamix writes into deps/APP after unpacking the package (stageDepsTree).
const DEPS_MARKERS = ["hex_metadata.config", ".hex", ".fetch"];
// Written after every other file of _build/ENV/lib/APP: its mtime must not be older than anything
// Mix compares it with (Mix 1.14-1.16).
const COMPILE_FETCH = ".mix/compile.fetch";

function freshTrees(deps: Tree, tarDirs: ReadonlySet<string> | undefined, build: Tree): FreshTrees {
  const files: Tree = new Map();
  const markers: Tree = new Map();
  for (const [path, w] of deps) (DEPS_MARKERS.includes(path) ? markers : files).set(path, w);
  const dirs = [...new Set([...(tarDirs ?? []), ...impliedDirs(files.keys())])].sort();
  return { deps: { dirs, files, markers }, build: { tree: build, last: COMPILE_FETCH } };
}

function hexDepsTree(p: LockedPackage, source: SourceFiles, otpRelease: string, depsFetch: boolean): Tree {
  if (p.node.source.kind !== "hex") throw new Error("not a Hex dependency");
  const tree: Tree = new Map();
  for (const [path, f] of source) tree.set(path, "symlink" in f ? { type: "symlink", target: f.symlink } : { type: "file", data: f.data, exec: f.exec, mode: f.mode });
  tree.set("hex_metadata.config", { type: "file", data: Buffer.from(source.metadataText!, "utf8"), exec: false });
  tree.set(".hex", { type: "file", data: hexManifest(p.node.source.lock, otpRelease), exec: false });
  if (depsFetch) tree.set(".fetch", { type: "file", data: EMPTY, exec: false });
  return tree;
}

// Files of a store item directory, relative to it.
async function itemFiles(dir: string, prefix = ""): Promise<Map<string, { path: string; exec: boolean }>> {
  const out = new Map<string, { path: string; exec: boolean }>();
  const walk = async (relDir: string) => {
    for (const name of (await readdir(join(dir, relDir))).sort()) {
      const path = relDir === "" ? name : `${relDir}/${name}`;
      const st = await lstat(join(dir, path));
      if (st.isDirectory()) await walk(path);
      else if (st.isFile()) out.set(`${prefix}${path}`, { path: join(dir, path), exec: (st.mode & 0o100) !== 0 });
      else throw new BeamixError(`${join(dir, path)}: store items hold only files and directories`);
    }
  };
  await walk("");
  return out;
}

async function buildTree(o: Omit<MaterializeOptions, "items" | "staged">, p: LockedPackage, item: RealizedDep, source: SourceFiles): Promise<Tree> {
  const lib = appLibDir(item.path, p.app, p.version);
  const tree: Tree = new Map();
  const ebin = await itemFiles(join(lib, "ebin"), "ebin/");
  if (!ebin.has(`ebin/${p.app}.app`)) throw new BeamixError(`${item.path}: no ebin/${p.app}.app in the store item`);
  for (const [path, f] of ebin) tree.set(path, { type: "copy", from: f.path, exec: f.exec });

  for (const dir of ["include", "priv"]) {
    const fromItem = (await exists(join(lib, dir))) ? await itemFiles(join(lib, dir), `${dir}/`) : new Map<string, { path: string; exec: boolean }>();
    const fromSource = [...source.keys()].filter((k) => k.startsWith(`${dir}/`));
    const sameAsSource =
      fromSource.length > 0 &&
      fromItem.size === fromSource.length &&
      (await everyAsync([...fromItem], async ([k, f]) => {
        const s = source.get(k);
        return s !== undefined && "data" in s && s.data.equals(await readFile(f.path));
      }));
    if (fromSource.length > 0 && (fromItem.size === 0 || sameAsSource)) {
      // What Mix.Project.build_structure makes: a relative link into deps/APP.
      tree.set(dir, { type: "symlink", target: relative(p.node.build, join(p.node.dest, dir)) });
    } else {
      for (const [path, f] of fromItem) tree.set(path, { type: "copy", from: f.path, exec: f.exec });
    }
  }

  const markers = mixDepMarkers(o.project.elixirVersion);
  if (markers.compileFetch !== "none") tree.set(COMPILE_FETCH, { type: "file", data: EMPTY, exec: false });
  const system = p.definition.buildSystem;
  // Up to Mix 1.18 only the Elixir compiler writes compile.elixir_scm; from 1.19 deps.compile
  // writes it for every fetchable dependency.
  const elixirCode = system === "mix" && ([...ebin.keys()].some((k) => /^ebin\/Elixir\..*\.beam$/.test(k)) || [...source.keys()].some((k) => /^lib\/.*\.ex$/.test(k)));
  if (markers.elixirScm === "every-fetchable" || elixirCode) {
    const scm = p.node.source.kind === "hex" ? HEX_SCM_MODULE : GIT_SCM_MODULE;
    const lock = markers.elixirScmVersion === 2 ? { version: 2 as const, entry: p.node.source.lock } : undefined;
    tree.set(".mix/compile.elixir_scm", { type: "file", data: elixirScmManifest(o.project.elixirVersion, o.project.otpRelease, scm, lock), exec: false });
  }
  if (system === "rebar3") {
    tree.set("mix.rebar.config", { type: "file", data: await (o.rebarConfigs?.get(p.app) ?? rebarConfigOf(o.scratch, p, source)), exec: false });
  }
  return tree;
}

async function everyAsync<T>(xs: T[], f: (x: T) => Promise<boolean>): Promise<boolean> {
  for (const x of xs) if (!(await f(x))) return false;
  return true;
}

// Who makes a mix.rebar.config from a directory holding a package's rebar files: Mix.Rebar, in
// an Elixir VM of its own (mixRebarConfig) or in the run's Mix session (MixSession.rebarConfig).
export type RebarConfigAsker = (app: string, dir: string) => Promise<Buffer>;

// Mix.Rebar reads the package's rebar.config (and .script): give it just those files.
async function rebarConfigOf(scratch: string, p: LockedPackage, source: SourceFiles, ask: RebarConfigAsker = mixRebarConfig): Promise<Buffer> {
  const dir = await mkdtemp(join(scratch, `rebar-${p.app}-`));
  for (const f of ["rebar.config", "rebar.config.script"]) {
    const s = source.get(f);
    if (s && "data" in s) await writeFile(join(dir, f), s.data);
  }
  return ask(p.app, dir);
}

// The mix.rebar.config of every package built with rebar3, all asked at once, so that a caller
// can have them made while it does something else. A failure surfaces where materializeDeps
// awaits it.
export function rebarConfigsOf(packages: Iterable<LockedPackage>, scratch: string, ask: RebarConfigAsker = mixRebarConfig): Map<string, Promise<Buffer>> {
  const out = new Map<string, Promise<Buffer>>();
  for (const p of packages) {
    if (!buildSystemModule(p.definition.buildSystem).deps.needsMixRebarConfig) continue;
    const promise = sourceFiles(p).then((source) => rebarConfigOf(scratch, p, source, ask));
    promise.catch(() => {}); // not awaited when nothing is materialized
    out.set(p.app, promise);
  }
  return out;
}

// Paths of deps/APP that Mix's own build of the dependency rewrites (src/build-system/).
function builtInPlace(p: LockedPackage): ((path: string) => boolean) | undefined {
  return buildSystemModule(p.definition.buildSystem).deps.builtInPlace;
}

// Mix recompiles a fetchable dependency whose deps/APP/.fetch is newer (in whole seconds)
// than its _build/ENV/lib/APP/.mix/compile.fetch.
async function fetchMarkerFresh(dest: string, build: string): Promise<boolean> {
  const fetched = await stat(join(dest, ".fetch")).catch(() => undefined);
  const compiled = await stat(join(build, COMPILE_FETCH)).catch(() => undefined);
  if (!fetched || !compiled) return false;
  return Math.floor(fetched.mtimeMs / 1000) <= Math.floor(compiled.mtimeMs / 1000);
}

// deps/APP's new tree, beside it.
async function stageDepsTree(p: LockedPackage, want: Tree | undefined, depsFetch: boolean): Promise<string> {
  const { dest } = p.node;
  await mkdir(dirname(dest), { recursive: true });
  const fresh = tmpSibling(dest, "new");
  try {
    if (p.node.source.kind === "hex") {
      writeHexSources(fresh, await sourceFiles(p));
      for (const f of DEPS_MARKERS) {
        const w = want!.get(f);
        if (w?.type === "file") await writeFile(join(fresh, f), w.data, { mode: 0o644 });
      }
    } else {
      await checkoutGitCommit(p.gitCache!, p.node.source.lock.url, p.node.source.lock.rev, fresh);
      if (depsFetch) await writeFile(join(fresh, ".fetch"), EMPTY, { mode: 0o644 });
    }
    return fresh;
  } catch (err) {
    await rm(fresh, { recursive: true, force: true });
    throw err;
  }
}

// deps/APP as Hex's unpacking leaves it (hex_core's hex_tarball, try_updating_mtime): every file
// and directory of the package but the links gets the same whole-second mtime, so erlang.mk's
// make sees the committed ebin/APP.app as up to date rather than older or newer than the sources
// by chance. Written from the package's sources as already read and checked for comparing
// (readContents: no path outside, nothing through a link): no second gunzip, and one pass of
// blocking calls instead of a thread-pool round trip per call.
function writeHexSources(root: string, source: SourceFiles): void {
  const umask = process.umask();
  const made = new Set([""]);
  const parentOf = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf("/")));
  const dir = (path: string): void => {
    if (made.has(path)) return;
    dir(parentOf(path));
    mkdirSync(join(root, path));
    made.add(path);
  };
  mkdirSync(root);
  for (const d of source.dirs ?? []) dir(d);
  const written: string[] = [];
  for (const [path, f] of source) {
    dir(parentOf(path));
    const at = join(root, path);
    if ("symlink" in f) {
      symlinkSync(f.symlink, at);
      continue;
    }
    // "wx": never write through something already there.
    writeFileSync(at, f.data, { flag: "wx", mode: f.mode });
    if ((f.mode & ~umask) !== f.mode) chmodSync(at, f.mode); // the umask cleared bits
    written.push(at);
  }
  // Directories after their contents, deepest first: writing in one changes its mtime.
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  for (const at of written) utimesSync(at, now, now);
  const dirs = [...made].filter((d) => d !== "").sort((a, b) => b.split("/").length - a.split("/").length);
  for (const d of dirs) utimesSync(join(root, d), now, now);
}

