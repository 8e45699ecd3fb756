// `beamix deps` in a fresh checkout of a project whose dependencies were already put in place
// elsewhere (a CI workspace, a second clone, a `git worktree`, the same directory after
// `rm -rf deps _build`), answered before the CLI loads: one pass of writes, as a tarball restore
// would do, instead of starting the CLI, opening the store's database, asking Mix (or its cached
// answers) about the project and comparing every directory.
//
// A run that left everything in place and wrote or compared every deps/APP and
// _build/ENV/lib/APP (deps.ts's WrittenRun) records here what it would write into a checkout
// where none exists (materialize.ts's FreshTrees, from what it holds in memory: nothing is read
// back): every directory, link and file of those trees, each file as the store file it copies
// (or, with --hard-links, links) or as bytes in a pack of its tree (content-addressed, so shared
// by the records of every project and state that have the same tree); the bytes of every file
// Mix's answers came from (mix.exs, the config files Config.Reader read, mix.lock); the store
// items with their identity; the state key and the report. (Packing _build's bytes too was
// measured no faster than copying them from the store in the kernel, and would keep a second
// copy of every item.)
//
// A later call with the same arguments (the project directory and --json aside), environment
// and inputs, in a project where none of those directories exists yet, is answered by writing
// them exactly as the full path would (deps/APP files with Hex's one whole-second mtime, then
// hex_metadata.config, .hex and .fetch; _build's .mix/compile.fetch last; each directory built
// beside its place and renamed into it), adding the project's GC roots and recording its
// deps-state and replay record (unchanged-replay.ts) as the full path would, so that the next
// run there ends at once too.
//
// Why the result is what the full path would write: the lock's bytes fix every package's
// source, and Mix's answers (hence the closure, the config each package is built for, and the
// store items) depend only on the bytes of the files recorded, the environment and the
// toolchain, all compared, when they move with the project (relocate-answers.ts: every absolute
// path in them lies under the project). Only Hex packages are restored: a git dependency needs a
// checkout and a path dependency's own files are not among those compared, so projects with
// either take the full path. Anything unexpected (a target that exists, an item or pack that
// changed, a write that fails) sends the run down the full path, after removing what this one
// wrote.
//
// The store items are kept by their GC roots, added before they are copied; an item is removed
// only by moving its directory away first (store-core.ts), so an item whose directory has the
// same identity after the copy was whole when copied.
import { lstatSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { mkdir, readdir, stat, unlink } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { cacheDir, defaultStoreDir } from "../config/paths.ts";
import { depsRootPrefix, noteProjectIn } from "../inspect/projects.ts";
import { rootsDirOf, placeRootLink } from "../store/root-links.ts";
import { detectOptionsFor } from "../toolchain/choice.ts";
import { toolchainFileStamps } from "../toolchain/locate.ts";
import type { FileStamp } from "../toolchain/cache.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { sha256Hex } from "../util/sha256.ts";
import { depsStateFile, saveDepsState, stampOf, stampsUnchanged, stampTrees, type Stamp } from "./deps-state.ts";
import type { SettledRun } from "./deps.ts";
import { impliedDirs, type Tree, type Want } from "./dir-tree.ts";
import { isUnder } from "./moved-path.ts";
import { depsOutput, type OutputOptions } from "./report-output.ts";
import { movedReport, restoredReport, unchangedReport, withSubstituted, type DepsReport } from "./report.ts";
import { removeAll, writeTrees, type Entry } from "./restore-writer.ts";
import { callOf, nameHash, recordUnchangedRun, replayable, type RunCall, type RunOutput } from "./unchanged-replay.ts";

export const RESTORE_FORMAT = "beamix-deps-restore/3";
const FORMAT = RESTORE_FORMAT;
const KEEP_RECORDS = 16; // per cache directory; the oldest go first
export const PACKS = "restore-packs"; // beside the records

export interface TreeRecord {
  kind: "deps" | "build"; // deps/APP or _build/ENV/lib/APP
  path: string; // relative to the project
  mode: number; // of its root
  pack: Stamp | null; // the file holding the bytes of its "f" entries (none: it has none)
  entries: Entry[];
  // Entries from this index on are written after the others (and, in deps/APP, after Hex's
  // mtime is given to those): deps/APP's markers, _build's compile.fetch (materialize.ts FreshTrees).
  late: number;
}

export interface RestoreRecord {
  format: typeof FORMAT;
  call: { argv: string[]; cwd: string | null; env: [string, string][] };
  project: string; // the directory it was recorded in
  mixEnv: string;
  storeDir: string;
  link: "copy" | "hardlink";
  inputs: [path: string, data: string | null][]; // relative to the project when under it; base64
  toolchain: FileStamp[];
  items: Stamp[]; // the store items' directories
  trees: TreeRecord[]; // per package: deps/APP, then _build/ENV/lib/APP
  stateKey: string; // the same in every directory (deps-state.ts)
  report: DepsReport;
  substituting: boolean; // the summary counts the substituted (OutputOptions)
}

// The call as recorded: the project directory's argument marked, the working directory left out
// when it is the project's own, and without --json, which changes only how the report is
// printed: a restore prints the report its own call asks for.
export function callShape(c: RunCall, operand: number | null, project: string): RestoreRecord["call"] {
  const call = callOf(c);
  const argv = call.argv.map((a, i) => (i === operand ? "\0dir" : a)).filter((a) => a !== "--json");
  return { argv, cwd: c.cwd === project ? null : c.cwd, env: call.env };
}

const cacheRootOf = (c: RunCall): string => resolve(c.cwd, c.env.BEAMIX_CACHE_DIR || cacheDir());
export const recordsDir = (c: RunCall): string => join(cacheRootOf(c), "deps-state");

// The store the call names, as the CLI finds it: --store, else BEAMIX_STORE, else the default.
function storeDirOf(c: RunCall): string {
  let dir: string | undefined;
  c.argv.forEach((a, i) => {
    if (a === "--store" && i + 1 < c.argv.length) dir = c.argv[i + 1];
    else if (a.startsWith("--store=")) dir = a.slice("--store=".length);
  });
  return resolve(c.cwd, dir ?? (c.env.BEAMIX_STORE || defaultStoreDir()));
}

function readOrNull(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

// A record's file name: the call's shape and the bytes of the project's mix.exs and mix.lock, so
// that several states of one project (branches) each keep theirs.
export function recordName(shape: RestoreRecord["call"], project: string): string | undefined {
  const mixExs = readOrNull(join(project, "mix.exs"));
  if (mixExs === null) return undefined;
  const lock = readOrNull(join(project, "mix.lock")) ?? Buffer.alloc(0);
  return `restore-${nameHash(`${JSON.stringify(shape)}\0${mixExs.toString("latin1")}\0${lock.toString("latin1")}`)}`;
}

// ---------------------------------------------------------------------------------------------
// Recording, after a run that wrote or compared every directory.

export interface RecordOptions {
  operand: number | null; // the index in argv of the project directory's argument, if given
  substituting: boolean;
}

export async function recordCheckoutRestore(c: RunCall, settled: SettledRun, o: RecordOptions): Promise<void> {
  if (!replayable(c.argv)) return;
  try {
    const made = await restoreRecordOf(c, settled, o, { unlessRecorded: true });
    if (!made) return;
    await writeFileAtomic(made.file, JSON.stringify(made.record) + "\n");
    await pruneRecords(dirname(made.file));
  } catch {
    // best effort: the next fresh checkout takes the full path
  }
}

// The record of what a fresh checkout of the project gets after `settled`, with its packs saved,
// and the file it goes to; also for a call that is not replayed itself (`--push` publishes it,
// shared-restore.ts). Undefined when no checkout can be filled from the run, or (unlessRecorded)
// when the record there already says it.
export async function restoreRecordOf(c: RunCall, settled: SettledRun, o: RecordOptions, { unlessRecorded = false } = {}): Promise<{ record: RestoreRecord; file: string } | undefined> {
  const w = settled.written;
  if (!w || settled.inputs === undefined) return undefined;
  const { project, report } = w;
  const dir = project.dir;
  const cacheRoot = cacheRootOf(c);
  if (report.pathDeps.length > 0 || w.packages.some((p) => p.source !== "hex")) return undefined;
  if (![project.buildPath, project.depsPath, project.lockfile].every((p) => isUnder(p, dir) && p !== dir)) return undefined;
  if ([w.storeDir, cacheRoot].some((p) => isUnder(p, dir) || isUnder(dir, p)) || settled.items.some((i) => isUnder(i, dir))) return undefined;
  if (storeDirOf(c) !== w.storeDir) return undefined;
  if (o.operand !== null && resolve(c.cwd, c.argv[o.operand]) !== dir) return undefined;
  if (o.operand === null && c.cwd !== dir) return undefined;
  const shape = callShape(c, o.operand, dir);
  const name = recordName(shape, dir);
  if (name === undefined) return undefined;
  const records = recordsDir(c);
  const file = join(records, `${name}.json`);
  if (unlessRecorded && stillRecorded(file, settled, w)) return undefined;
  await mkdir(records, { recursive: true, mode: 0o700 });
  const byApp = new Map(report.packages.map((p) => [p.app, p]));
  const packs = join(records, PACKS);
  await mkdir(packs, { recursive: true, mode: 0o700 });
  const trees: TreeRecord[] = [];
  for (const p of w.packages) {
    if (!byApp.get(p.app)?.item || !p.fresh || p.dest !== join(project.depsPath, p.app) || p.build !== join(project.buildPath, "lib", p.app)) return undefined;
    const { deps, build } = p.fresh;
    const depsEntries = entriesOf(deps.dirs, [...sorted(deps.files), ...sorted(deps.markers)], (w) => (w.type === "file" && w.mode !== undefined ? w.mode : w.exec ? 0o755 : 0o644));
    const depsLate = depsEntries.entries.length - deps.markers.size;
    trees.push({ kind: "deps", path: relative(dir, p.dest), mode: 0o755, pack: await savePack(packs, depsEntries.bytes), entries: depsEntries.entries, late: depsLate });
    const last = build.tree.get(build.last);
    const buildFiles: [string, Want][] = [...sorted(build.tree).filter(([path]) => path !== build.last), ...(last ? [[build.last, last] as [string, Want]] : [])];
    const buildEntries = entriesOf(impliedDirs(build.tree.keys()), buildFiles, (w) => (w.exec ? 0o755 : 0o644));
    const buildLate = buildEntries.entries.length - (last ? 1 : 0);
    trees.push({ kind: "build", path: relative(dir, p.build), mode: 0o755, pack: await savePack(packs, buildEntries.bytes), entries: buildEntries.entries, late: buildLate });
  }
  const inputs: RestoreRecord["inputs"] = [];
  for (const path of settled.inputs) {
    const data = readOrNull(path);
    inputs.push([isUnder(path, dir) ? relative(dir, path) : path, data === null ? null : data.toString("base64")]);
  }
  const items: Stamp[] = [];
  for (const item of settled.items) {
    const s = stampOf(item);
    if (!s) return undefined;
    items.push(s);
  }
  const toolchain = await toolchainFileStamps(detectOptionsFor({}, c.env));
  if (toolchain === null) return undefined;
  const record: RestoreRecord = {
    format: FORMAT,
    call: shape,
    project: dir,
    mixEnv: project.mixEnv,
    storeDir: w.storeDir,
    link: w.link,
    inputs,
    toolchain,
    items,
    trees,
    stateKey: settled.stateKey,
    report,
    substituting: o.substituting,
  };
  return { record, file };
}

// Whether the record there already says what this run would record: the same state of the same
// project, with its pack and items as they were (a run that rewrote a directory of the project).
function stillRecorded(file: string, settled: SettledRun, w: NonNullable<SettledRun["written"]>): boolean {
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as RestoreRecord;
    return (
      r?.format === FORMAT &&
      r.stateKey === settled.stateKey &&
      r.project === w.project.dir &&
      r.storeDir === w.storeDir &&
      r.link === w.link &&
      JSON.stringify(r.items.map((i) => i[0])) === JSON.stringify(settled.items) &&
      r.inputs.length === settled.inputs?.length &&
      wellFormed(r, r.project, dirname(file)) &&
      sameInputs(r.inputs, r.project) &&
      stampsUnchanged([...packsOf(r), ...r.items])
    );
  } catch {
    return false;
  }
}

const packsOf = (r: RestoreRecord): Stamp[] => r.trees.flatMap((t) => (t.pack ? [t.pack] : []));

// A tree's bytes, kept once by their SHA-256; its identity now.
export async function savePack(dir: string, bytes: Buffer): Promise<Stamp | null> {
  if (bytes.length === 0) return null;
  const file = join(dir, `${sha256Hex(bytes)}.pack`);
  const there = stampOf(file);
  if (there && readOrNull(file)?.equals(bytes)) return there; // another record's, still whole
  await writeFileAtomic(file, bytes);
  const made = stampOf(file);
  if (!made) throw new Error(`${file}: gone once written`);
  return made;
}

const sorted = (tree: Tree): [string, Want][] => [...tree].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

// A tree's entries in writing order (each directory before what it holds; the files in the order
// given after their directories), and the bytes of its files that are not the store's.
function entriesOf(dirs: readonly string[], files: readonly [string, Want][], modeOf: (w: Extract<Want, { type: "file" | "copy" }>) => number): { entries: Entry[]; bytes: Buffer } {
  const entries: Entry[] = dirs.map((d): Entry => ["d", d, 0o755]);
  const chunks: Buffer[] = [];
  let size = 0;
  for (const [path, w] of files) {
    if (w.type === "symlink") entries.push(["l", path, w.target]);
    else if (w.type === "copy") entries.push(["s", path, w.from, modeOf(w)]);
    else {
      chunks.push(w.data);
      entries.push(["f", path, size, w.data.length, modeOf(w)]);
      size += w.data.length;
    }
  }
  // Directories first, by path (a directory sorts before what it holds), then the files in order.
  const dirEntries = entries.filter((e) => e[0] === "d").sort((x, y) => (x[1] < y[1] ? -1 : 1));
  return { entries: [...dirEntries, ...entries.filter((e) => e[0] !== "d")], bytes: Buffer.concat(chunks, size) };
}

// The newest KEEP_RECORDS records are kept, and the packs they use (a record rewritten for a new
// state of its project may leave some unused). A pack younger than an hour is kept too: a run
// may have written it and not yet its record.
async function pruneRecords(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => /^restore-[0-9a-f]{16}\.json$/.test(n));
  const aged = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => a.t - b.t);
  for (const { n } of aged.slice(0, aged.length - KEEP_RECORDS)) await unlink(join(dir, n)).catch(() => {});
  const used = new Set<string>();
  for (const { n } of aged.slice(aged.length - KEEP_RECORDS)) {
    try {
      for (const p of packsOf(JSON.parse(readFileSync(join(dir, n), "utf8")) as RestoreRecord)) used.add(p[0]);
    } catch {
      // unreadable: its packs may go
    }
  }
  const packs = join(dir, PACKS);
  for (const n of await readdir(packs).catch(() => [] as string[])) {
    const file = join(packs, n);
    const st = await stat(file).catch(() => undefined);
    if (st && !used.has(file) && Date.now() - st.mtimeMs > 3600_000) await unlink(file).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Restoring.

// The record for this call and project, when one was made: tried for each argument that could
// name the project directory (and for none).
function findRecord(c: RunCall): { record: RestoreRecord; project: string } | undefined {
  const dir = recordsDir(c);
  const candidates: (number | null)[] = [null, ...c.argv.flatMap((a, i) => (a.startsWith("-") ? [] : [i]))];
  for (const operand of candidates) {
    const project = operand === null ? c.cwd : resolve(c.cwd, c.argv[operand]);
    const name = recordName(callShape(c, operand, project), project);
    if (name === undefined) continue;
    let record: RestoreRecord;
    try {
      record = JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as RestoreRecord;
    } catch {
      continue;
    }
    if (record?.format === FORMAT && JSON.stringify(record.call) === JSON.stringify(callShape(c, operand, project))) return { record, project };
  }
  return undefined;
}

// A relative path that stays inside the directory it is joined to: not empty, and no component
// empty (an absolute path's first), "." or "..".
const NOT_INSIDE = /(?:^|\/)\.{0,2}(?:\/|$)/;
const inside = (rel: string): boolean => typeof rel === "string" && rel !== "" && !NOT_INSIDE.test(rel);

// Whether one of `dirs` holds `path` below it (a set: one lookup per directory above the path).
function underOneOf(path: string, dirs: ReadonlySet<string>): boolean {
  for (let cut = path.indexOf("/", 1); cut !== -1; cut = path.indexOf("/", cut + 1)) if (dirs.has(path.slice(0, cut))) return true;
  return false;
}

// Whether the files a record's answers came from have its bytes here (relative to `project`).
export function sameInputs(inputs: RestoreRecord["inputs"], project: string): boolean {
  return inputs.every(([path, data]) => {
    const now = readOrNull(isAbsolute(path) ? path : join(project, path));
    return data === null ? now === null : now !== null && now.equals(Buffer.from(data, "base64"));
  });
}

// What a record written by beamix holds: paths inside the project, store files inside its items,
// packs in the record's own directory, bytes within them. Linear in the entries: a record holds
// thousands, and this runs before every restore.
export function wellFormed(r: RestoreRecord, project: string, records: string): boolean {
  const items = r.items.map((s) => s[0]);
  const itemSet = new Set(items);
  const packs = join(records, PACKS);
  const ownPack = (t: TreeRecord) => t.pack === null || (dirname(t.pack[0]) === packs && /^[0-9a-f]{64}\.pack$/.test(basename(t.pack[0])));
  const fits = (t: TreeRecord, e: Entry) => e[0] !== "f" || (e[2] >= 0 && e[3] >= 0 && e[2] + e[3] <= (t.pack ? Number(t.pack[3]) : 0));
  // A file of one of the items, named without "." or ".." (nothing else the record could name).
  const fromItem = (e: Entry) => {
    if (e[0] !== "s") return true;
    for (let cut = e[2].lastIndexOf("/"); cut > 0; cut = e[2].lastIndexOf("/", cut - 1)) if (itemSet.has(e[2].slice(0, cut))) return inside(e[2].slice(cut + 1));
    return false;
  };
  // Nothing is written through a link the record itself makes (a walk never lists anything there).
  const underNoLink = (t: TreeRecord) => {
    const links = new Set<string>();
    for (const e of t.entries) if (e[0] === "l") links.add(e[1]);
    return links.size === 0 || t.entries.every((e) => !underOneOf(e[1], links));
  };
  // No tree inside another, nor twice.
  const paths = new Set(r.trees.map((t) => t.path));
  const apart = paths.size === r.trees.length && r.trees.every((t) => !underOneOf(t.path, paths));
  return (
    r.trees.length > 0 &&
    r.trees.every((t) => inside(t.path)) &&
    apart &&
    r.trees.every((t) => (t.kind === "deps" || t.kind === "build") && ownPack(t) && Number.isInteger(t.late) && t.late >= 0 && t.late <= t.entries.length && t.entries.every((e) => inside(e[1]) && fits(t, e) && fromItem(e)) && underNoLink(t)) &&
    items.every((i) => isUnder(i, r.storeDir) && !isUnder(i, project))
  );
}

// Writes the fresh checkout's deps/ and _build/ENV/lib from the record; returns what the run
// prints, or undefined (having written nothing) when the full path must decide.
export async function restoreFreshCheckout(c: RunCall, o: { substituted?: ReadonlyMap<string, string> } = {}): Promise<RunOutput | undefined> {
  if (!replayable(c.argv)) return undefined;
  let found: ReturnType<typeof findRecord>;
  try {
    found = findRecord(c);
  } catch {
    return undefined;
  }
  if (!found) return undefined;
  const { record: r, project } = found;
  try {
    if (storeDirOf(c) !== r.storeDir || !wellFormed(r, project, recordsDir(c)) || !sameInputs(r.inputs, project)) return undefined;
    const targets = r.trees.map((t) => join(project, t.path));
    const ownBuild = join(project, relative(r.project, r.report.project.buildPath), "lib", r.report.project.app);
    // Only into a checkout where none of it exists yet: anything there is the full path's to compare.
    if ([...targets, ownBuild].some((t) => lstatSync(t, { throwIfNoEntry: false }) !== undefined)) return undefined;
    const toolchain = await toolchainFileStamps(detectOptionsFor({}, c.env));
    if (toolchain === null || JSON.stringify(toolchain) !== JSON.stringify(r.toolchain)) return undefined;
    if (!stampsUnchanged(r.items) || !stampsUnchanged(packsOf(r))) return undefined;

    const roots = placeRoots(r, project);
    if (!stampsUnchanged(r.items)) return undefined; // removed before its root was in place
    const written = writeTrees(
      r.trees.map((t) => ({ dest: join(project, t.path), mode: t.mode, pack: t.pack?.[0] ?? null, packSize: t.pack ? Number(t.pack[3]) : 0, entries: t.entries, late: t.late, hex: t.kind === "deps" })),
      r.link,
    );
    if (written === undefined) return undefined;
    if (!stampsUnchanged(r.items)) {
      removeAll(written);
      return undefined;
    }
    return await settle(c, r, project, roots, toolchain, o.substituted ?? new Map());
  } catch {
    return undefined;
  }
}

// The project's GC roots, one per item, as deps.ts names them; other roots of the project (from
// an earlier state of the same directory) are removed.
function placeRoots(r: RestoreRecord, project: string): string[] {
  const prefix = depsRootPrefix(project, r.mixEnv);
  const want = new Map(r.report.items.map((i) => [`${prefix}${i.name}`, i.path]));
  const rootsDir = rootsDirOf(r.storeDir);
  for (const name of readdirSync(rootsDir)) {
    if (name.startsWith(prefix) && !want.has(name)) unlinkSync(join(rootsDir, name));
  }
  return [...want].map(([name, item]) => placeRootLink(r.storeDir, name, item));
}

// What the full path does after writing: the project noted in the store, its deps-state and
// replay record, and the report.
async function settle(c: RunCall, r: RestoreRecord, project: string, roots: string[], toolchain: FileStamp[], substituted: ReadonlyMap<string, string>): Promise<RunOutput> {
  const report = withSubstituted(restoredReport(movedReport(r.report, project)), substituted);
  const output: OutputOptions = { json: c.argv.includes("--json"), check: false, substituting: r.substituting };
  await noteProjectIn(r.storeDir, project, r.mixEnv).catch(() => {});
  const stateFile = depsStateFile(cacheRootOf(c), project, r.mixEnv);
  const items = r.report.items.map((i) => i.path);
  const stamps = stampTrees(r.trees.map((t) => join(project, t.path)));
  if (await saveDepsState(stateFile, { key: r.stateKey, items, stamps, report })) {
    const inputs = r.inputs.map(([path]) => (isAbsolute(path) ? path : join(project, path)));
    await recordUnchangedRun(c, { stateFile, stateKey: r.stateKey, inputs, items, roots }, { ...depsOutput(unchangedReport(report), output), exitCode: 0 }, toolchain);
  }
  return { ...depsOutput(report, output), exitCode: 0 };
}
