// A project's restore record shared through a binary cache (src/substitute/format/deps-record.ts),
// so that a fresh checkout on a machine that never ran the project (a CI job, a new clone) is
// filled like one on the machine that did (checkout-restore.ts): the store items substituted as
// usual, every other file from packs, without asking the Hex registry, reading a tarball, asking
// Mix (or its answers), computing a derivation or comparing a directory.
//
// `beamix deps --push` publishes, beside the items, the record the run left here, made portable:
// its project directory and store directory as placeholders, its items by name, its packs by
// SHA-256 (uploaded beside it), and the state the key of a later "nothing changed" run is
// computed from (deps.ts portableState). It is filed under a key computed from files before any
// is read (shared-restore-key.ts).
//
// A run that finds one for its key, signed by enough trusted keys, uses it only when every file
// Mix's answers came from (mix.exs, each config file read, mix.lock) has the same bytes here,
// its detected toolchain is the one the record was made with, and none of the directories it
// fills exists yet. It then substitutes the items (with their references, every signature and
// hash checked as for any substitute), fetches the packs (checked against the hashes the
// signed record names), writes the record as this machine's own, and lets checkout-restore.ts
// write the checkout from it, with all of that module's checks. Anything else leaves the run to
// the full path, which then does what it always did.
import { readFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { sha256Hex } from "../util/sha256.ts";
import { Semaphore } from "../util/semaphore.ts";
import { chainLengths, runDag } from "../util/dag-scheduler.ts";
import type { Store } from "../store/store.ts";
import type { CacheBackend } from "../substitute/backends/backend.ts";
import { CompileEnvIndex } from "../store/compile-env-index.ts";
import { substitutedDeriver, type Substituters } from "../substitute/client/substituters.ts";
import { EarlyDownloads } from "../realize/early-downloads.ts";
import type { CompileEnvRecord } from "../derivation/compile-env.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import { toolchainFileStamps } from "../toolchain/locate.ts";
import { detectOptionsFor } from "../toolchain/choice.ts";
import { callShape, PACKS, recordName, recordsDir, restoreFreshCheckout, RESTORE_FORMAT, sameInputs, savePack, type RestoreRecord, type TreeRecord } from "./checkout-restore.ts";
import { stampOf, type Stamp } from "./deps-state.ts";
import { stateKeyOf, toolchainIdentity, type WrittenRun } from "./deps.ts";
import { SHARED_DIR } from "./mix-answers.ts";
import { isUnder, movePath } from "./moved-path.ts";
import { movedReport, type DepsReport } from "./report.ts";
import type { Entry } from "./restore-writer.ts";
import { replayable, type RunCall, type RunOutput } from "./unchanged-replay.ts";

const FORMAT = "beamix-shared-deps-restore/1";
const FETCHES_AT_ONCE = 8; // archives, and packs, being fetched
// Where the publisher's store was, in a shared record's report and entries.
const SHARED_STORE = "/.beamix-shared-store";

interface SharedTree {
  kind: TreeRecord["kind"];
  path: string;
  mode: number;
  pack: [sha256: string, size: number] | null;
  entries: Entry[]; // a store file ("s") as <item>/<path in it>
  late: number;
}

interface SharedItem {
  item: string; // its directory's name
  drvHash: string;
  name: string;
  version: string;
  compileEnv?: CompileEnvRecord; // the basis and reads its deriver records
  references: string[]; // the record's items it references (their directories' names)
}

export interface SharedRestore {
  format: typeof FORMAT;
  mixEnv: string;
  toolchain: (string | null)[]; // deps.ts toolchainIdentity
  portableState: string; // deps.ts portableState
  inputs: [path: string, data: string | null][]; // relative to the project; base64
  items: SharedItem[];
  trees: SharedTree[];
  report: DepsReport; // in SHARED_DIR, its items in SHARED_STORE
}

// ---------------------------------------------------------------------------------------------
// Publishing: the record of what a run wrote (checkout-restore.ts restoreRecordOf), made
// portable, with the packs it names.

// What the publisher's store says of an item (its path): its compile-env record, its references.
export type ItemFacts = (item: string) => { compileEnv?: CompileEnvRecord; references: string[] } | undefined;

export function sharedRestoreOf(r: RestoreRecord, w: WrittenRun, factsOf: ItemFacts): { record: SharedRestore; packs: Buffer[] } | undefined {
  if (r.inputs.some(([path]) => isAbsolute(path))) return undefined; // a file outside the project
  const store = r.storeDir;
  const byPath = new Map(r.report.items.map((i) => [i.path, i]));
  const items: SharedRestore["items"] = [];
  for (const [path] of r.items) {
    const i = byPath.get(path);
    if (!i || dirname(path) !== store) return undefined;
    const facts = factsOf(path);
    if (!facts) return undefined;
    const env = facts.compileEnv;
    const references = facts.references.filter((ref) => ref !== path).map((ref) => relative(store, ref));
    items.push({ item: basename(path), drvHash: i.drvHash, name: i.name, version: i.version, ...(env ? { compileEnv: { basis: env.basis, reads: env.reads } } : {}), references });
  }
  const named = new Set(items.map((i) => i.item));
  if (!items.every((i) => i.references.every((ref) => named.has(ref)))) return undefined; // the closure is not all here
  const packs: Buffer[] = [];
  const trees: SharedTree[] = [];
  for (const t of r.trees) {
    let pack: SharedTree["pack"] = null;
    if (t.pack) {
      const bytes = readFileSync(t.pack[0]);
      const sha = sha256Hex(bytes);
      if (`${sha}.pack` !== basename(t.pack[0])) return undefined; // changed since it was written
      packs.push(bytes);
      pack = [sha, bytes.length];
    }
    const entries = t.entries.map((e): Entry => (e[0] === "s" ? ["s", e[1], relative(store, e[2]), e[3]] : e));
    if (entries.some((e) => e[0] === "s" && !isUnder(join(store, e[2]), store))) return undefined;
    trees.push({ kind: t.kind, path: t.path, mode: t.mode, pack, entries, late: t.late });
  }
  const toolchain = (JSON.parse(w.portableState) as { toolchain: (string | null)[] }).toolchain;
  const record: SharedRestore = {
    format: FORMAT,
    mixEnv: r.mixEnv,
    toolchain,
    portableState: w.portableState,
    inputs: r.inputs,
    items,
    trees,
    report: inStore(movedReport(r.report, SHARED_DIR), store, SHARED_STORE),
  };
  return { record, packs };
}

// The report with its store paths in another store directory.
function inStore(r: DepsReport, from: string, to: string): DepsReport {
  return {
    ...r,
    packages: r.packages.map((p) => ({ ...p, item: p.item === null ? null : movePath(p.item, from, to) })),
    items: r.items.map((i) => ({ ...i, path: movePath(i.path, from, to) })),
  };
}

// ---------------------------------------------------------------------------------------------
// Restoring.

export type SharedRestoreSource = Substituters;

export interface SharedRestoreOptions {
  call: RunCall;
  operand: number | null; // the index in argv of the project directory's argument, if given
  projectDir: string; // absolute
  found: { body: string; backend: CacheBackend }; // the caches' record (Substituters.depsRecord)
  store: Store;
  link: "copy" | "hardlink";
  toolchain: Promise<Toolchain>;
  source: SharedRestoreSource;
  report(line: string): void;
}

// The output of the run when a shared record filled the checkout; undefined (having written no
// file of the project) when the full path must run.
export async function restoreFromSharedRecord(o: SharedRestoreOptions): Promise<RunOutput | undefined> {
  if (!replayable(o.call.argv)) return undefined;
  const { found } = o;
  let shared: SharedRestore;
  try {
    shared = parseSharedRestore(found.body);
  } catch (err) {
    o.report(`ignoring the restore record of ${found.backend.url}: ${(err as Error).message}`);
    return undefined;
  }
  const project = o.projectDir;
  // Another state of the project (a changed config file), or a checkout that has some of it
  // already: the full path's to decide.
  if (!sameInputs(shared.inputs, project)) return undefined;
  if (shared.trees.some((t) => exists(join(project, t.path)))) return undefined;

  // Every item, as any substitute, and the packs the signed record names, while the toolchain
  // is detected (erl boots); used only if it is the record's. (Items of another toolchain are then
  // in the store for nothing, but are what their identity says.) The missing items' archives are
  // all fetched at once (early-downloads.ts); each is registered once its references are.
  const sameToolchain = o.toolchain.then((tc) => JSON.stringify(toolchainIdentity(tc)) === JSON.stringify(shared.toolchain));
  const missing = new Set(shared.items.map((i) => join(o.store.dir, i.item)).filter((path) => !o.store.isValid(path)));
  const early = new EarlyDownloads(o.store, o.source, o.report, FETCHES_AT_ONCE);
  // (The record's references form no cycle: parseSharedRestore.)
  const tasks = shared.items.map((i) => ({ key: i.item, deps: i.references, run: () => substituteItem(o, i, early) }));
  const chains = chainLengths(tasks);
  for (const i of shared.items) if (missing.has(join(o.store.dir, i.item))) early.start(i, chains.get(i.item)!);
  const items = runDag(tasks, { jobs: FETCHES_AT_ONCE })
    .then((outcomes) => {
      for (const outcome of outcomes.values()) {
        if (outcome.status === "failed") throw outcome.error;
        if (outcome.status === "skipped") throw new Error(outcome.reason);
      }
    })
    .finally(() => early.discard());
  const slots = new Semaphore(FETCHES_AT_ONCE);
  const packsDir = join(recordsDir(o.call), PACKS);
  const sizes = new Map<string, number>(); // sha256 -> size, as the record names each pack
  for (const t of shared.trees) if (t.pack && !sizes.has(t.pack[0])) sizes.set(...t.pack);
  const packs = new Map<string, Stamp | null>(); // sha256 -> the pack saved here
  const packed = mkdir(packsDir, { recursive: true, mode: 0o700 }).then(() =>
    Promise.all([...sizes].map(([sha, size]) => slots.use(async () => void packs.set(sha, await savePack(packsDir, await o.source.pack(found.backend, sha, size)))))),
  );
  const [toolchainOk, fetched] = await Promise.all([sameToolchain.catch(() => false), Promise.all([items, packed]).then(() => undefined, (err: unknown) => err as Error)]);
  if (!toolchainOk) return undefined;
  if (fetched) {
    o.report(`ignoring the restore record of ${found.backend.url}: ${fetched.message}`);
    return undefined;
  }
  // Where each item that was missing came from, as its deriver says.
  const substituted = new Map<string, string>();
  for (const path of missing) {
    const from = (o.store.queryItem(path)?.deriver as { substitutedFrom?: unknown } | null)?.substitutedFrom;
    if (typeof from === "string") substituted.set(path, from);
  }

  const storeDir = o.store.dir;
  const itemStamps: Stamp[] = [];
  for (const i of shared.items) {
    const s = stampOf(join(storeDir, i.item));
    if (!s) return undefined;
    itemStamps.push(s);
  }
  const toolchain = await toolchainFileStamps(detectOptionsFor({}, o.call.env));
  if (toolchain === null) return undefined;
  const here = inStore(movedReport(shared.report, project), SHARED_STORE, storeDir);
  const record: RestoreRecord = {
    format: RESTORE_FORMAT,
    call: callShape(o.call, o.operand, project),
    project,
    mixEnv: shared.mixEnv,
    storeDir,
    link: o.link,
    inputs: shared.inputs,
    toolchain,
    items: itemStamps,
    trees: shared.trees.map((t) => ({
      kind: t.kind,
      path: t.path,
      mode: t.mode,
      pack: t.pack ? packs.get(t.pack[0])! : null,
      entries: t.entries.map((e): Entry => (e[0] === "s" ? ["s", e[1], join(storeDir, e[2]), e[3]] : e)),
      late: t.late,
    })),
    stateKey: stateKeyOf(shared.portableState, project, storeDir, o.link),
    report: here,
    substituting: true,
  };
  const name = recordName(record.call, project);
  if (name === undefined) return undefined;
  const file = join(recordsDir(o.call), `${name}.json`);
  await writeFileAtomic(file, JSON.stringify(record) + "\n");
  const restored = await restoreFreshCheckout(o.call, { substituted });
  // A record checkout-restore.ts would not use is not left for the next run to try again.
  if (!restored) await rm(file, { force: true });
  return restored;
}

// An item of the record in the store (its references are), substituted unless it is there. Its
// compile-env basis and reads are noted as realize.ts notes them, so that a later full run finds
// it in the store without asking a cache.
async function substituteItem(o: SharedRestoreOptions, i: SharedItem, early: EarlyDownloads): Promise<void> {
  const { store } = o;
  if (!store.isValid(join(store.dir, i.item))) {
    await store.ensureItem(i, async (staging) => {
      const got = (await early.take(i, staging)) ?? (await o.source.fetchInto(store, i, staging, { report: o.report }));
      if (got.status !== "substituted") throw new Error(`${i.name} ${i.version}: ${got.status === "failed" ? got.message : "no cache has it"}`);
      return { references: got.references, deriver: { ...substitutedDeriver(got), ...(i.compileEnv ? { compileEnv: i.compileEnv } : {}) }, restoredFrom: got.tree };
    });
  }
  const env = i.compileEnv;
  if (env) await store.withBuildLock(env.basis, () => new CompileEnvIndex(store).record(env.basis, env.reads, i));
}

const exists = (path: string): boolean => stampOf(path) !== undefined;

// A shared record's body, checked for what this module relies on before anything is fetched:
// checkout-restore.ts checks the rest (paths inside the project and the items, bytes within
// packs) on the record written from it.
export function parseSharedRestore(body: string): SharedRestore {
  const r = JSON.parse(body) as SharedRestore;
  const fail = (what: string): never => {
    throw new Error(`not a restore record: ${what}`);
  };
  if (typeof r !== "object" || r === null || r.format !== FORMAT) fail(`format is not ${FORMAT}`);
  if (typeof r.mixEnv !== "string" || typeof r.portableState !== "string" || !Array.isArray(r.toolchain)) fail("no MIX_ENV, state or toolchain");
  const relativePath = (p: unknown) => typeof p === "string" && p !== "" && !isAbsolute(p) && !p.split("/").some((s) => s === ".." || s === "." || s === "");
  if (!Array.isArray(r.inputs) || !r.inputs.every((i) => Array.isArray(i) && relativePath(i[0]) && (i[1] === null || typeof i[1] === "string"))) fail("inputs");
  const ITEM = /^([0-9a-f]{64})-(.+)$/;
  if (!Array.isArray(r.items) || !r.items.every((i) => typeof i?.item === "string" && ITEM.exec(i.item)?.[1] === i.drvHash && i.item === `${i.drvHash}-${i.name}-${i.version}`)) fail("items");
  if (new Set(r.items.map((i) => i.item)).size !== r.items.length) fail("an item listed twice");
  const byItem = new Map(r.items.map((i) => [i.item, i]));
  if (!r.items.every((i) => Array.isArray(i.references) && i.references.every((ref) => typeof ref === "string" && ref !== i.item && byItem.has(ref)))) fail("references to items it does not hold");
  // No cycle: each item is registered after its references.
  const state = new Map<string, "visiting" | "done">();
  const acyclic = (item: string): boolean => {
    if (state.get(item) === "done") return true;
    if (state.get(item) === "visiting") return false;
    state.set(item, "visiting");
    const ok = byItem.get(item)!.references.every(acyclic);
    state.set(item, "done");
    return ok;
  };
  if (!r.items.every((i) => acyclic(i.item))) fail("references in a cycle");
  const packOk = (p: unknown) => p === null || (Array.isArray(p) && typeof p[0] === "string" && /^[0-9a-f]{64}$/.test(p[0]) && Number.isSafeInteger(p[1]) && p[1] >= 0);
  const items = new Set(r.items.map((i) => i.item));
  const entryOk = (e: unknown) => Array.isArray(e) && relativePath(e[1]) && (e[0] !== "s" || (relativePath(e[2]) && items.has(String(e[2]).split("/")[0])));
  if (!Array.isArray(r.trees) || r.trees.length === 0 || !r.trees.every((t) => (t?.kind === "deps" || t?.kind === "build") && relativePath(t.path) && Number.isInteger(t.mode) && packOk(t.pack) && Array.isArray(t.entries) && t.entries.every(entryOk) && Number.isInteger(t.late))) fail("trees");
  if (typeof r.report !== "object" || r.report === null || r.report.project?.dir !== SHARED_DIR || !Array.isArray(r.report.items) || !Array.isArray(r.report.packages)) fail("report");
  // Its trees are the dependencies' directories, deps/APP and _build/ENV/lib/APP, and the items
  // its report names are its own: nothing else of a project is written, no other item rooted.
  const { depsPath, buildPath } = r.report.project;
  const placed = (t: SharedTree) => (t.kind === "deps" ? typeof depsPath === "string" && dirname(join(SHARED_DIR, t.path)) === depsPath : typeof buildPath === "string" && dirname(join(SHARED_DIR, t.path)) === join(buildPath, "lib"));
  if (!r.trees.every(placed)) fail("a tree outside deps/ and _build/ENV/lib");
  const named = r.report.items.map((i) => i?.path).sort();
  if (JSON.stringify(named) !== JSON.stringify(r.items.map((i) => `${SHARED_STORE}/${i.item}`).sort())) fail("the report's items are not the record's");
  return r;
}
