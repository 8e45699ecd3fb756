// The content-addressed store: read-only item directories named by derivation hash, a database of
// the valid ones, GC roots as symlinks, compressed build logs.
//
// Layout of <store>:
//   <drv hash>-<name>-<version>/       store items, read-only once registered
//   .beamix/store                      the marker: "beamix store 1" (store-dir.ts)
//   .beamix/db.sqlite                  valid items, references, locks (db.ts)
//   .beamix/roots/<name>               GC roots: symlinks to an item, or to a symlink leading to one
//   .beamix/roots/temp-<pid>-<start>-… temporary roots of a running process
//   .beamix/logs/<drv hash>.log.gz     build logs
//   .beamix/tmp/<kind>-<pid>-<start>-… staging trees, items being deleted, files being written
//
// Invariants, whatever kills a process at any point:
// - An item is valid iff it has a row AND its directory exists. Registering renames the finished,
//   read-only tree into place and only then inserts the row; deleting renames the directory away
//   first and only then deletes the row. So a row never names a partial directory: a crash leaves at
//   worst a directory without a row (not valid; removed by recover/gc) or a row without a directory
//   (not valid; removed by recover/gc together with the items referencing it).
// - Every reference of a valid item is valid (references must be valid when registering; gc
//   deletes referrers before what they reference).
// - Item directories are only created (register) and removed (gc, verify, recover) while holding the
//   store-wide "gc" lock, and temporary roots are added under it too. So gc sees every root that
//   protects an item it could delete, and an item registered by a live process is never collected.
// - Everything temporary is named after its owner process and removed once that process is dead.
// - Only a marked directory is a store (store-dir.ts): nothing is ever deleted from a directory
//   beamix did not make a store, and nothing is deleted without saying so. Recovery on opening
//   reports every item it removes (OpenStoreOptions.report); verify, which opens without
//   recovery, reports rows without directories and directories without rows as problems.
// - verify --repair replaces a damaged item's tree only by one that hashes to the recorded output
//   hash (from a substitute or a rebuild), under the gc lock: the damaged directory is moved away
//   and the restored tree renamed in, so a crash between the two leaves a row without a
//   directory, which recovery removes with its referrers, as a repair that found no source would.
// - A store the user cannot write is opened read-only: queries work, recovery and temporary roots
//   are skipped (nothing here can delete its items then), and anything that must write fails with
//   one line. Conditions of the disk (full, read-only, damaged database) are one line too
//   (io-errors.ts); a failed registration leaves no partial item, as after a crash.
import { randomBytes } from "node:crypto";
import { createWriteStream, lstatSync, readlinkSync, type Stats } from "node:fs";
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, symlink, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, gunzipSync } from "node:zlib";
import { BeamixError, errorMessage } from "../errors.ts";
import { dataDir } from "../config/paths.ts";
import { StoreDb, type ItemRow } from "./db.ts";
import { guard, storeError } from "./io-errors.ts";
import { prepareStoreDir } from "./store-dir.ts";
import { Locks, type LockOptions } from "./locks.ts";
import { hashTree, restoreTree, writeTree } from "./nar.ts";
import { makeReadOnly, removeTree, treeBytes } from "./perms.ts";
import { formatId, isAlive, parseId, selfId, type ProcessId } from "./process-id.ts";

export interface StoreItem {
  path: string; // absolute path of the item directory
  drvHash: string;
  name: string;
  version: string;
  narHash: string; // output hash: SHA-256 hex of the tree serialization
  narSize: number;
  registeredAt: number; // milliseconds since the epoch
  deriver: unknown;
  references: string[]; // absolute paths, sorted
}

export type RegisterPhase = "read-only" | "hashed" | "renamed" | "registered";

export interface RegisterOptions {
  drvHash: string;
  name: string;
  version: string;
  // The finished tree. It is consumed: moved into the store, or deleted if the item already exists.
  stagingDir: string;
  references?: readonly string[]; // store paths of the items this one needs at run time
  deriver?: unknown; // JSON-serializable description of how the item was made
  // The tree's hash and size, when the caller has just restored the staging tree from a
  // serialization with this hash (restoreTree accepts only canonical serializations, so the tree
  // hashes to it): registering then does not read the whole tree again.
  restoredFrom?: TreeHash;
  // Progress notification, called synchronously as each step completes.
  onPhase?: (phase: RegisterPhase) => void;
}

export interface TreeHash {
  hash: string;
  size: number;
}

export interface BuildOutcome {
  references?: readonly string[];
  deriver?: unknown;
  restoredFrom?: TreeHash; // see RegisterOptions
}

export interface RootInfo {
  name: string;
  link: string; // absolute path of the symlink
  item: string | undefined; // absolute item path it leads to, if any valid one
  temporary: boolean;
  owner?: ProcessId; // for temporary roots
}

export interface FreedItem {
  path: string;
  bytes: number; // apparent size: file contents and symlink targets
  registered: boolean; // false for a directory that had no row
}

export interface GcResult {
  dryRun: boolean;
  roots: string[]; // items kept because a root leads to them
  kept: number; // items kept in all (the closure of the roots)
  freed: FreedItem[];
  bytesFreed: number;
  staleTempRoots: string[]; // temporary roots of dead processes (removed unless dryRun)
}

export interface VerifyProblem {
  path: string;
  problem: "modified" | "missing" | "unregistered" | "unreadable";
  detail: string;
}

export interface VerifyReport {
  checked: number;
  ok: number;
  problems: VerifyProblem[];
  foreign: string[]; // entries of the store directory that are not items: reported, never touched
  // With repair: damaged items whose tree was brought back, and from where.
  restored: { path: string; from: string }[];
  // With repair: damaged items that could not be restored and were removed (so that they are
  // built or substituted again when next needed). These problems remain: the items are gone.
  unrestored: string[];
  removed: string[]; // with repair: every item removed (unrestored ones, their referrers, directories without rows)
}

// Puts a damaged item's tree back into `staging` (an empty directory of the store) and says
// where it came from, or returns undefined when it has no way to. verify accepts the tree only
// when it hashes to the item's recorded output hash.
export type Restorer = (item: StoreItem, staging: string) => Promise<string | undefined>;

export interface VerifyOptions {
  repair?: boolean;
  restorers?: readonly Restorer[]; // with repair: tried in order for each damaged item
  report?: (line: string) => void; // with repair: why a way of restoring an item did not work
}

export interface RecoveryReport {
  leftovers: string[]; // temporaries of dead processes removed from .beamix/tmp
  staleTempRoots: string[];
  unregistered: string[]; // item directories without a row, removed
  missing: string[]; // rows without a directory, removed
  removedReferrers: string[]; // valid-looking items removed because something they reference was gone
  staleLocks: number;
}

const DRV_HASH_RE = /^[0-9a-z]{16,64}$/;
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}$/;
const VERSION_RE = /^[A-Za-z0-9_.+-]{1,100}$/;
const ITEM_RE = /^([0-9a-z]{16,64})-[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const ROOT_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,199}$/;
const TEMP_ROOT_RE = /^temp-(\d+-\d+)-/;
const TMP_OWNER_RE = /^[a-z]+-(\d+-\d+)-/;

export function defaultStoreDir(): string {
  return process.env.BEAMIX_STORE || join(dataDir(), "store");
}

export interface OpenStoreOptions {
  // Undo what crashed processes left behind (default: yes, when the store can be written).
  recover?: boolean;
  // Where recovery says what it removed, one line each (default: stderr).
  report?: (line: string) => void;
}

const toStderr = (line: string) => void process.stderr.write(`beamix: ${line}\n`);

// Opens the store at `dir`, making it if it is new or empty; refuses any other directory that is
// not marked as a store (store-dir.ts).
export async function openStore(dir: string = defaultStoreDir(), options: OpenStoreOptions = {}): Promise<Store> {
  const where = await prepareStoreDir(dir);
  if (where.writable) {
    await guard(`cannot set up the store ${where.dir}`, where.dir, async () => {
      for (const sub of ["logs", "roots", "tmp"]) await mkdir(join(where.dir, ".beamix", sub), { recursive: true });
    });
  }
  const store = new Store(where.dir, StoreDb.open(join(where.dir, ".beamix", "db.sqlite"), { readOnly: !where.writable }));
  if (where.writable && options.recover !== false) {
    try {
      const report = await store.recover();
      for (const line of recoveryLines(report)) (options.report ?? toStderr)(line);
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  return store;
}

// What recovery removed, one line per item (and one for the temporaries of dead processes).
export function recoveryLines(r: RecoveryReport): string[] {
  return [
    ...r.unregistered.map((p) => `removed ${p}: a directory the store database has no record of (left by an interrupted registration)`),
    ...r.missing.map((p) => `forgot ${p}: registered, but its directory is gone`),
    ...r.removedReferrers.map((p) => `removed ${p}: an item it references is gone`),
    ...(r.leftovers.length ? [`removed ${r.leftovers.length} temporary entr${r.leftovers.length === 1 ? "y" : "ies"} of interrupted beamix processes from ${dirname(r.leftovers[0])}`] : []),
  ];
}

// A directory moved out of the store, waiting to be removed.
interface Trashed {
  base: string;
  path: string;
}

const errCode = (err: unknown) => (err as NodeJS.ErrnoException).code;

function lstatOrUndefined(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

export class Store {
  readonly dir: string;
  private readonly db: StoreDb;
  private readonly locks: Locks;
  private readonly instance = randomBytes(4).toString("hex");
  private readonly tempRoots = new Set<string>();

  // Use openStore(), which also creates the layout and recovers from crashes.
  constructor(dir: string, db: StoreDb) {
    this.dir = dir;
    this.db = db;
    this.locks = new Locks(db);
  }

  // Opened without write access (see the invariants at the top).
  get readOnly(): boolean {
    return this.db.readOnly;
  }

  private requireWritable(what: string): void {
    if (this.readOnly) throw new BeamixError(`cannot ${what}: the store ${this.dir} is read-only`);
  }

  // Runs fn, turning conditions of the disk into one line saying what could not be done.
  private guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return guard(`cannot ${what} (store ${this.dir})`, this.dir, fn);
  }

  private get meta() {
    return join(this.dir, ".beamix");
  }
  private get tmpDir() {
    return join(this.meta, "tmp");
  }
  private get rootsDir() {
    return join(this.meta, "roots");
  }
  private get logsDir() {
    return join(this.meta, "logs");
  }

  // Releases this instance's temporary roots and closes the database.
  async close(): Promise<void> {
    try {
      await this.releaseTempRoots();
    } finally {
      this.db.close();
    }
  }

  // ---- names and queries ----

  itemPath(drvHash: string, name: string, version: string): string {
    if (!DRV_HASH_RE.test(drvHash)) throw new BeamixError(`invalid derivation hash ${JSON.stringify(drvHash)} (expected 16-64 characters 0-9a-z)`);
    if (!NAME_RE.test(name)) throw new BeamixError(`invalid store item name ${JSON.stringify(name)}`);
    if (!VERSION_RE.test(version)) throw new BeamixError(`invalid store item version ${JSON.stringify(version)} for ${name}`);
    return join(this.dir, `${drvHash}-${name}-${version}`);
  }

  // The item directory name of a path equal to or inside an item of this store.
  private containingItem(path: string): string | undefined {
    const rel = relative(this.dir, resolve(path));
    if (rel === "" || isAbsolute(rel) || rel.startsWith(`..${sep}`) || rel === "..") return undefined;
    const first = rel.split(sep)[0];
    return ITEM_RE.test(first) ? first : undefined;
  }

  // The item directory name of an item path (exactly the item directory).
  private itemBase(path: string): string | undefined {
    const base = this.containingItem(path);
    return base !== undefined && resolve(path) === join(this.dir, base) ? base : undefined;
  }

  private dirExists(base: string): boolean {
    return lstatOrUndefined(join(this.dir, base))?.isDirectory() ?? false;
  }

  private validRow(base: string): ItemRow | undefined {
    const row = this.db.item(base);
    return row && this.dirExists(base) ? row : undefined;
  }

  private toItem(row: ItemRow): StoreItem {
    return {
      path: join(this.dir, row.path),
      drvHash: row.drvHash,
      name: row.name,
      version: row.version,
      narHash: row.narHash,
      narSize: row.narSize,
      registeredAt: row.registeredAt,
      deriver: row.deriver,
      references: this.db.references(row.path).map((b) => join(this.dir, b)),
    };
  }

  isValid(path: string): boolean {
    const base = this.itemBase(path);
    return base !== undefined && this.validRow(base) !== undefined;
  }

  queryItem(path: string): StoreItem | undefined {
    const base = this.itemBase(path);
    const row = base === undefined ? undefined : this.validRow(base);
    return row && this.toItem(row);
  }

  queryByDrvHash(drvHash: string): StoreItem | undefined {
    const row = this.db.itemByDrvHash(drvHash);
    return row && this.dirExists(row.path) ? this.toItem(row) : undefined;
  }

  listItems(): StoreItem[] {
    return this.db
      .items()
      .filter((r) => this.dirExists(r.path))
      .map((r) => this.toItem(r));
  }

  // The valid items whose deriver's JSON text contains `text` (a quick preselection: the caller
  // checks the parsed deriver).
  listItemsMentioning(text: string): StoreItem[] {
    return this.db
      .itemsWithDeriverMentioning(text)
      .filter((r) => this.dirExists(r.path))
      .map((r) => this.toItem(r));
  }

  private requireValid(path: string): string {
    const base = this.itemBase(path);
    if (base === undefined || !this.validRow(base)) throw new BeamixError(`${path}: not a valid item of the store ${this.dir}`);
    return base;
  }

  references(path: string): string[] {
    return this.db.references(this.requireValid(path)).map((b) => join(this.dir, b));
  }

  referrers(path: string): string[] {
    return this.db.referrers(this.requireValid(path)).map((b) => join(this.dir, b));
  }

  // The items and everything they reference, transitively; sorted absolute paths.
  closure(paths: readonly string[]): string[] {
    return this.db.closure(paths.map((p) => this.requireValid(p))).map((b) => join(this.dir, b));
  }

  // ---- building and registering ----

  private tmpName(kind: string): string {
    return join(this.tmpDir, `${kind}-${formatId(selfId())}-${randomBytes(6).toString("hex")}`);
  }

  // A fresh empty directory on the store's file system, removed automatically once this process is dead.
  async createStagingDir(): Promise<string> {
    this.requireWritable("add items");
    const path = this.tmpName("stage");
    await this.guard("make a staging directory", () => mkdir(path, { mode: 0o755 }));
    return path;
  }

  // Runs fn holding the build lock of a derivation, so that concurrent builders (processes or tasks)
  // build it once. fn gets the valid item if one exists by the time the lock is held: a waiter must
  // use it instead of building again.
  async withBuildLock<T>(drvHash: string, fn: (existing: StoreItem | undefined) => Promise<T>, options?: LockOptions): Promise<T> {
    if (!DRV_HASH_RE.test(drvHash)) throw new BeamixError(`invalid derivation hash ${JSON.stringify(drvHash)}`);
    this.requireWritable("build or fetch items");
    return this.locks.with(`build:${drvHash}`, () => fn(this.queryByDrvHash(drvHash)), options);
  }

  // The item of a derivation: the existing one, or the one `build` produces in a staging directory
  // (called at most once across all processes sharing the store). The item is protected by a
  // temporary root of this process in both cases.
  async ensureItem(
    spec: { drvHash: string; name: string; version: string },
    build: (stagingDir: string) => Promise<BuildOutcome>,
    options?: LockOptions,
  ): Promise<{ item: StoreItem; built: boolean }> {
    const path = this.itemPath(spec.drvHash, spec.name, spec.version);
    await this.addTempRoot(path); // before checking validity, so gc cannot take it in between
    const have = this.queryItem(path);
    if (have) return { item: have, built: false };
    return this.withBuildLock(
      spec.drvHash,
      async (existing) => {
        if (existing) return { item: existing, built: false };
        const staging = await this.createStagingDir();
        try {
          const outcome = await build(staging);
          const item = await this.register({ ...spec, stagingDir: staging, references: outcome.references, deriver: outcome.deriver, restoredFrom: outcome.restoredFrom });
          return { item, built: true };
        } finally {
          await removeTree(staging); // nothing left if register moved it
        }
      },
      options,
    );
  }

  // Moves a staging tree into .beamix/tmp under this process's name (same file system, and cleaned
  // up if we die). Across file systems the tree is copied through its serialization.
  private async adoptStaging(stagingDir: string): Promise<string> {
    const src = resolve(stagingDir);
    const st = await lstat(src).catch((err) => {
      if (errCode(err) === "ENOENT") throw new BeamixError(`${src}: staging directory does not exist`);
      throw err;
    });
    if (!st.isDirectory()) throw new BeamixError(`${src}: staging path is not a directory`);
    if (dirname(src) === this.tmpDir && src.slice(this.tmpDir.length + 1).startsWith(`stage-${formatId(selfId())}-`)) return src;
    const dest = this.tmpName("stage");
    try {
      await rename(src, dest);
    } catch (err) {
      if (errCode(err) !== "EXDEV") throw err;
      const pipe = new PassThrough();
      const fail = (e: unknown) => {
        pipe.destroy(e as Error); // unblocks the other side
        throw e;
      };
      await Promise.all([writeTree(src, pipe).then(() => pipe.end(), fail), restoreTree(pipe, dest).catch(fail)]);
      await removeTree(src);
    }
    return dest;
  }

  // Turns a finished staging tree into a valid store item (see the invariants at the top).
  // Idempotent: if the derivation already has a valid item, the staging tree is discarded and the
  // existing item returned.
  async register(options: RegisterOptions): Promise<StoreItem> {
    this.requireWritable(`register ${options.name} ${options.version}`);
    return this.guard(`register ${options.name} ${options.version}`, () => this.registerWritable(options));
  }

  private async registerWritable(options: RegisterOptions): Promise<StoreItem> {
    const { drvHash, name, version } = options;
    const final = this.itemPath(drvHash, name, version);
    const base = this.itemBase(final)!;
    const refs = [...new Set((options.references ?? []).map((p) => {
      const b = this.itemBase(p);
      if (b === undefined) throw new BeamixError(`cannot register ${base}: reference ${p} is not an item path of ${this.dir}`);
      return b;
    }))].filter((b) => b !== base);
    const phase = options.onPhase ?? (() => {});
    return this.withBuildLock(drvHash, async (existing) => {
      if (existing) {
        if (existing.path !== final) throw new BeamixError(`derivation ${drvHash} is already registered as ${existing.path}, not ${final}`);
        await removeTree(options.stagingDir);
        return this.mergeCompileEnv(existing, options.deriver);
      }
      let staging: string | undefined = await this.adoptStaging(options.stagingDir);
      let renamed = false;
      const trash: Trashed[] = [];
      try {
        await makeReadOnly(staging, { skipRoot: true }); // the top stays writable until it is renamed
        phase("read-only");
        const tree = options.restoredFrom ?? (await hashTree(staging));
        phase("hashed");
        await this.locks.with("gc", async () => {
          for (const r of refs) {
            if (!this.validRow(r)) throw new BeamixError(`cannot register ${base}: its reference ${join(this.dir, r)} is not a valid store item`);
          }
          await this.addTempRoot(final); // rooted before it becomes valid
          // Debris of an earlier crash under this derivation: a row without a directory, or the reverse.
          const stale = this.db.itemByDrvHash(drvHash) ?? this.db.item(base);
          if (stale) await this.removeItemsLocked([stale.path], trash);
          const leftover = lstatOrUndefined(final) && (await this.moveToTrash(base));
          if (leftover) trash.push(leftover);
          await rename(staging!, final);
          staging = undefined;
          renamed = true;
          phase("renamed");
          await chmod(final, 0o555);
          this.db.insertItem(
            { path: base, drvHash, name, version, narHash: tree.hash, narSize: tree.size, registeredAt: Date.now(), deriver: options.deriver ?? null },
            refs,
          );
          renamed = false;
          phase("registered");
        });
      } catch (err) {
        if (staging !== undefined) await removeTree(staging).catch(() => {});
        if (renamed) {
          // Renamed but not recorded: take it out again rather than leave an unregistered directory.
          await this.locks
            .with("gc", async () => {
              const t = await this.moveToTrash(base);
              if (t) trash.push(t);
            })
            .catch(() => {});
        }
        throw err;
      } finally {
        await this.discard(trash).catch(() => {}); // else recover() removes it later
      }
      return this.queryItem(final)!;
    });
  }

  // An item registered again (by another command, or substituted after a build) keeps its
  // deriver, but gains the compile-env record (basis and reads) of the new one when it had none,
  // so that its read set can be found and published whoever registered it first.
  private mergeCompileEnv(existing: StoreItem, deriver: unknown): StoreItem {
    const incoming = (deriver as { compileEnv?: unknown } | null | undefined)?.compileEnv;
    const have = existing.deriver as Record<string, unknown> | null;
    if (incoming === undefined || (have && have.compileEnv !== undefined)) return existing;
    const merged = { ...(have && typeof have === "object" ? have : {}), compileEnv: incoming };
    this.db.updateDeriver(this.itemBase(existing.path)!, merged);
    return this.queryItem(existing.path)!;
  }

  // ---- deleting (callers hold the gc lock) ----

  // Step one of deletion: the directory leaves the store under a name owned by this process.
  private async moveToTrash(base: string): Promise<Trashed | undefined> {
    const path = join(this.dir, base);
    const trash = this.tmpName("trash");
    try {
      await chmod(path, 0o755); // moving a directory to another parent rewrites its ".."
      await rename(path, trash);
      return { base, path: trash };
    } catch (err) {
      if (errCode(err) === "ENOENT") return undefined;
      throw err;
    }
  }

  // Step three, after the row is gone and the gc lock released: the slow part.
  private async discard(trash: Iterable<Trashed | undefined>): Promise<void> {
    for (const t of trash) if (t) await removeTree(t.path);
  }

  // Deletes the given items and, first, everything that references them (an item cannot outlive
  // what it references). Returns the directory names deleted, and the trash paths to remove.
  private async removeItemsLocked(bases: readonly string[], trash: Trashed[]): Promise<string[]> {
    const doomed = new Set<string>();
    const order: string[] = [];
    const visit = (b: string) => {
      if (doomed.has(b)) return;
      doomed.add(b);
      for (const r of this.db.referrers(b)) visit(r);
      order.push(b);
    };
    for (const b of bases) visit(b);
    for (const b of order) {
      const t = await this.moveToTrash(b);
      if (t) trash.push(t);
      this.db.transaction(() => this.db.deleteItem(b));
    }
    return order;
  }

  // ---- roots ----

  private async makeLink(name: string, target: string): Promise<string> {
    const link = join(this.rootsDir, name);
    const tmp = this.tmpName("link");
    await symlink(target, tmp);
    try {
      await rename(tmp, link); // replaces an existing root of that name atomically
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    return link;
  }

  // Follows a root symlink (and further symlinks outside the store) to the item it leads to.
  private rootTarget(link: string): string | undefined {
    let current = link;
    for (let hops = 0; hops < 40; hops++) {
      let target: string;
      try {
        target = readlinkSync(current);
      } catch {
        return undefined; // gone, or a regular file outside the store
      }
      const abs = resolve(dirname(current), target);
      const base = this.containingItem(abs);
      if (base !== undefined) return base;
      current = abs;
    }
    return undefined;
  }

  // A permanent root: `target` is an item path (or a path inside one), or a symlink that leads to
  // one (an indirect root, e.g. a "result" link in a project; it stops protecting when removed).
  async addRoot(name: string, target: string): Promise<string> {
    if (!ROOT_NAME_RE.test(name) || name.startsWith("temp-")) throw new BeamixError(`invalid GC root name ${JSON.stringify(name)}`);
    this.requireWritable(`add the GC root ${name}`);
    const abs = resolve(target);
    return this.guard(`add the GC root ${name}`, () =>
      this.locks.with("gc", async () => {
        const direct = this.containingItem(abs);
        const base = direct ?? this.rootTarget(abs);
        if (base === undefined || !this.validRow(base)) throw new BeamixError(`${target}: does not lead to a valid item of the store ${this.dir}`);
        return this.makeLink(name, abs);
      }),
    );
  }

  async removeRoot(name: string): Promise<boolean> {
    if (!ROOT_NAME_RE.test(name)) throw new BeamixError(`invalid GC root name ${JSON.stringify(name)}`);
    this.requireWritable(`remove the GC root ${name}`);
    try {
      await unlink(join(this.rootsDir, name));
      return true;
    } catch (err) {
      if (errCode(err) === "ENOENT") return false;
      throw storeError(err, `cannot remove the GC root ${name} (store ${this.dir})`, this.dir);
    }
  }

  async listRoots(): Promise<RootInfo[]> {
    const out: RootInfo[] = [];
    for (const name of (await readdir(this.rootsDir)).sort()) {
      const link = join(this.rootsDir, name);
      const base = this.rootTarget(link);
      const m = TEMP_ROOT_RE.exec(name);
      out.push({
        name,
        link,
        item: base !== undefined && this.validRow(base) ? join(this.dir, base) : undefined,
        temporary: m !== null,
        ...(m ? { owner: parseId(m[1]) } : {}),
      });
    }
    return out;
  }

  // Protects an item (existing or about to be built) from gc for as long as this process lives, or
  // until releaseTempRoots()/close(). Nothing to do in a read-only store: this process cannot
  // add items to it, nor collect them.
  async addTempRoot(path: string): Promise<void> {
    const base = this.containingItem(path);
    if (base === undefined) throw new BeamixError(`${path}: not an item path of the store ${this.dir}`);
    if (this.readOnly) return;
    const name = `temp-${formatId(selfId())}-${this.instance}-${base}`;
    if (this.tempRoots.has(name)) return;
    await this.guard("add a temporary GC root", () =>
      this.locks.with("gc", async () => {
        try {
          await symlink(join(this.dir, base), join(this.rootsDir, name));
        } catch (err) {
          if (errCode(err) !== "EEXIST") throw err;
        }
      }),
    );
    this.tempRoots.add(name);
  }

  async releaseTempRoots(): Promise<void> {
    for (const name of this.tempRoots) {
      await unlink(join(this.rootsDir, name)).catch((err) => {
        if (errCode(err) !== "ENOENT") throw storeError(err, `cannot remove a temporary GC root (store ${this.dir})`, this.dir);
      });
      this.tempRoots.delete(name);
    }
  }

  // Items that roots lead to; temporary roots of dead processes are collected (and removed if prune).
  private async scanRoots(prune: boolean): Promise<{ roots: Set<string>; stale: string[] }> {
    const roots = new Set<string>();
    const stale: string[] = [];
    for (const name of await readdir(this.rootsDir)) {
      const m = TEMP_ROOT_RE.exec(name);
      if (m) {
        const owner = parseId(m[1]);
        if (!owner || !isAlive(owner)) {
          stale.push(join(this.rootsDir, name));
          if (prune) await unlink(join(this.rootsDir, name)).catch(() => {});
          continue;
        }
      }
      const base = this.rootTarget(join(this.rootsDir, name));
      if (base !== undefined) roots.add(base);
    }
    return { roots, stale };
  }

  // Store directory entries that look like items.
  private async itemDirs(): Promise<{ items: string[]; foreign: string[] }> {
    const items: string[] = [];
    const foreign: string[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      if (name === ".beamix") continue;
      (ITEM_RE.test(name) ? items : foreign).push(name);
    }
    return { items, foreign };
  }

  // ---- garbage collection ----

  // Runs fn holding the store-wide gc lock; a read-only store (which this process cannot change,
  // nor take locks in) is only read.
  private underGcLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.readOnly ? fn() : this.locks.with("gc", fn);
  }

  // Deletes every item not reachable from a root (following references), and item directories that
  // have no row. Roots are read and items deleted under the gc lock; the slow removal of the
  // trashed trees happens after it is released.
  async gc(options: { dryRun?: boolean } = {}): Promise<GcResult> {
    const dryRun = options.dryRun ?? false;
    if (!dryRun) this.requireWritable("collect garbage");
    return this.guard(dryRun ? "look for garbage" : "collect garbage", () => this.gcGuarded(dryRun));
  }

  private async gcGuarded(dryRun: boolean): Promise<GcResult> {
    const trash: Trashed[] = [];
    const result = await this.underGcLock(async () => {
      const { roots, stale } = await this.scanRoots(!dryRun);
      const rows = new Set(this.db.items().map((r) => r.path));
      const refs = new Map<string, string[]>();
      for (const [from, to] of this.db.edges()) refs.set(from, [...(refs.get(from) ?? []), to]);
      const live = new Set<string>();
      const queue = [...roots].filter((b) => rows.has(b));
      for (const b of queue) live.add(b);
      while (queue.length > 0) {
        for (const next of refs.get(queue.pop()!) ?? []) {
          if (!live.has(next)) {
            live.add(next);
            queue.push(next);
          }
        }
      }
      const dead = [...rows].filter((b) => !live.has(b));
      const unregistered = (await this.itemDirs()).items.filter((b) => !rows.has(b) && !this.db.item(b));
      if (!dryRun) {
        await this.removeItemsLocked(dead, trash);
        for (const b of unregistered) {
          const t = await this.moveToTrash(b);
          if (t) trash.push(t);
        }
      }
      return { dead, unregistered, roots: [...roots].filter((b) => rows.has(b)).sort(), kept: live.size, stale: stale.sort() };
    });
    // Sizes are measured outside the lock: on the trashed copy, or in place for a dry run.
    const where = new Map(trash.map((t) => [t.base, t.path]));
    const freed: FreedItem[] = [];
    for (const [list, registered] of [[result.dead, true], [result.unregistered, false]] as const) {
      for (const b of list) freed.push({ path: join(this.dir, b), bytes: await treeBytes(where.get(b) ?? join(this.dir, b)), registered });
    }
    freed.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    await this.discard(trash);
    if (!dryRun) await this.removeLeftovers();
    return {
      dryRun,
      roots: result.roots.map((b) => join(this.dir, b)),
      kept: result.kept,
      freed,
      bytesFreed: freed.reduce((n, f) => n + f.bytes, 0),
      staleTempRoots: result.stale,
    };
  }

  // ---- verification and recovery ----

  // Re-hashes every item against its recorded output hash and checks rows against directories
  // (a row without a directory: "missing"; a directory without a row: "unregistered"). The store
  // is opened without recovery for this (the CLI does), so that both are reported, not removed.
  // With repair, each damaged item (in reference order) is restored by the first restorer whose
  // tree hashes to the recorded hash; one that cannot be restored is removed with everything
  // referencing it (it is built or substituted again when next needed), and so are directories
  // without rows.
  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    if (options.repair) this.requireWritable("repair items");
    return this.guard(options.repair ? "repair the store" : "verify the store", () => this.verifyGuarded(options));
  }

  private async verifyGuarded(options: VerifyOptions): Promise<VerifyReport> {
    const problems: VerifyProblem[] = [];
    // Rows against directories under the gc lock: no registration or deletion is half-way then.
    const { rows, missing, unregistered, foreign } = await this.underGcLock(async () => {
      const rows = this.db.items();
      const names = new Set(rows.map((r) => r.path));
      const dirs = await this.itemDirs();
      return { rows, missing: new Set(rows.filter((r) => !this.dirExists(r.path)).map((r) => r.path)), unregistered: dirs.items.filter((b) => !names.has(b)), foreign: dirs.foreign };
    });
    let ok = 0;
    for (const row of rows) {
      const path = join(this.dir, row.path);
      const deletedMeanwhile = () => this.db.item(row.path) === undefined; // by a concurrent gc
      if (missing.has(row.path)) {
        problems.push({ path, problem: "missing", detail: "registered but the directory does not exist" });
        continue;
      }
      try {
        const tree = await hashTree(path);
        if (tree.hash !== row.narHash || tree.size !== row.narSize) {
          problems.push({ path, problem: "modified", detail: `output hash ${tree.hash} (${tree.size} bytes), recorded ${row.narHash} (${row.narSize} bytes)` });
        } else ok++;
      } catch (err) {
        if (!deletedMeanwhile()) problems.push({ path, problem: "unreadable", detail: errorMessage(err) });
      }
    }
    for (const b of unregistered) problems.push({ path: join(this.dir, b), problem: "unregistered", detail: "a directory with no record in the store database (not valid)" });
    const report: VerifyReport = { checked: rows.length, ok, problems, foreign: foreign.map((f) => join(this.dir, f)), restored: [], unrestored: [], removed: [] };
    if (options.repair && problems.length > 0) await this.repair(problems, options, report);
    report.removed.sort();
    return report;
  }

  // Restores or removes the damaged items, removes directories without rows (verify --repair).
  private async repair(problems: readonly VerifyProblem[], options: VerifyOptions, report: VerifyReport): Promise<void> {
    const say = options.report ?? (() => {});
    const damaged = new Set(problems.filter((p) => p.problem !== "unregistered").map((p) => this.itemBase(p.path)!));
    // References first: a rebuild needs its inputs whole.
    const order: string[] = [];
    const seen = new Set<string>();
    const visit = (b: string) => {
      if (seen.has(b)) return;
      seen.add(b);
      for (const r of this.db.references(b)) if (damaged.has(r)) visit(r);
      order.push(b);
    };
    for (const b of [...damaged].sort()) visit(b);
    for (const base of order) {
      const row = this.db.item(base);
      if (!row) continue; // removed meanwhile, or as a referrer of an item that could not be restored
      const from = await this.restoreItem(row, options.restorers ?? [], say);
      if (from !== undefined) {
        report.restored.push({ path: join(this.dir, base), from });
        continue;
      }
      report.unrestored.push(join(this.dir, base));
      const trash: Trashed[] = [];
      await this.locks.with("gc", async () => {
        if (this.db.item(base)) for (const b of await this.removeItemsLocked([base], trash)) report.removed.push(join(this.dir, b));
      });
      await this.discard(trash);
    }
    const trash: Trashed[] = [];
    await this.locks.with("gc", async () => {
      for (const p of problems.filter((p) => p.problem === "unregistered")) {
        const b = this.itemBase(p.path)!;
        if (this.db.item(b)) continue; // registered meanwhile
        const t = await this.moveToTrash(b);
        if (t) trash.push(t);
        report.removed.push(p.path);
      }
    });
    await this.discard(trash);
  }

  // Tries each restorer until one gives back the item's recorded tree, and puts that tree in place
  // of the damaged one. Returns where it came from, or undefined.
  private async restoreItem(row: ItemRow, restorers: readonly Restorer[], say: (line: string) => void): Promise<string | undefined> {
    const path = join(this.dir, row.path);
    const item = this.toItem(row);
    for (const restorer of restorers) {
      const staging = await this.createStagingDir();
      try {
        let from: string | undefined;
        try {
          from = await restorer(item, staging);
        } catch (err) {
          const e = storeError(err, `cannot restore ${path}`, this.dir);
          if (!(e instanceof BeamixError)) throw e;
          say(`cannot restore ${path}: ${e.message}`);
          continue;
        }
        if (from === undefined) continue;
        const tree = await hashTree(staging);
        if (tree.hash !== row.narHash || tree.size !== row.narSize) {
          say(`cannot restore ${path} from ${from}: its tree hashes to ${tree.hash} (${tree.size} bytes), not the recorded ${row.narHash} (${row.narSize} bytes)`);
          continue;
        }
        await makeReadOnly(staging, { skipRoot: true });
        const trash: Trashed[] = [];
        const swapped = await this.locks.with("gc", async () => {
          const now = this.db.item(row.path);
          if (!now || now.narHash !== row.narHash) return false; // removed or replaced meanwhile
          const old = await this.moveToTrash(row.path);
          if (old) trash.push(old);
          await rename(staging, path);
          await chmod(path, 0o555);
          return true;
        });
        await this.discard(trash);
        if (swapped) return from;
      } finally {
        await removeTree(staging); // nothing left if it was renamed into place
      }
    }
    return undefined;
  }

  // Temporaries of dead processes in .beamix/tmp.
  private async removeLeftovers(): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.tmpDir)) {
      const m = TMP_OWNER_RE.exec(name);
      const owner = m ? parseId(m[1]) : undefined;
      if (owner && !isAlive(owner)) {
        await removeTree(join(this.tmpDir, name));
        removed.push(join(this.tmpDir, name));
      }
    }
    return removed;
  }

  // Undoes what crashed processes left behind. Runs when the store is opened; cheap when there is
  // nothing to do (the gc lock is taken only if rows and directories disagree). What it removed
  // is in the report (openStore says it, recoveryLines).
  async recover(): Promise<RecoveryReport> {
    this.requireWritable("recover from interrupted processes");
    return this.guard("recover from interrupted processes", () => this.recoverGuarded());
  }

  private async recoverGuarded(): Promise<RecoveryReport> {
    const report: RecoveryReport = {
      leftovers: await this.removeLeftovers(),
      staleTempRoots: (await this.scanRoots(true)).stale,
      unregistered: [],
      missing: [],
      removedReferrers: [],
      staleLocks: 0,
    };
    const consistent = async () => {
      const rows = new Set(this.db.items().map((r) => r.path));
      const dirs = (await this.itemDirs()).items;
      return dirs.every((d) => rows.has(d)) && [...rows].every((r) => this.dirExists(r));
    };
    if (!(await consistent())) {
      const trash: Trashed[] = [];
      await this.locks.with("gc", async () => {
        // Under the gc lock no registration is between its rename and its insert, so any
        // disagreement now is debris.
        const rows = this.db.items().map((r) => r.path);
        const missing = rows.filter((r) => !this.dirExists(r));
        const removed = await this.removeItemsLocked(missing, trash);
        report.missing = missing.map((b) => join(this.dir, b));
        report.removedReferrers = removed.filter((b) => !missing.includes(b)).map((b) => join(this.dir, b));
        for (const b of (await this.itemDirs()).items) {
          if (this.db.item(b)) continue;
          const t = await this.moveToTrash(b);
          if (t) trash.push(t);
          report.unregistered.push(join(this.dir, b));
        }
      });
      await this.discard(trash);
    }
    report.staleLocks = this.locks.pruneDead();
    return report;
  }

  // ---- build logs ----

  logPath(drvHash: string): string {
    if (!DRV_HASH_RE.test(drvHash)) throw new BeamixError(`invalid derivation hash ${JSON.stringify(drvHash)}`);
    return join(this.logsDir, `${drvHash}.log.gz`);
  }

  // Stores a build log, gzip-compressed; replaces an earlier log of the same derivation atomically.
  async writeLog(drvHash: string, log: string | Uint8Array | AsyncIterable<string | Uint8Array>): Promise<string> {
    const dest = this.logPath(drvHash);
    this.requireWritable("store a build log");
    const tmp = this.tmpName("log");
    const source = typeof log === "string" || log instanceof Uint8Array ? Readable.from([Buffer.from(log)]) : Readable.from(log);
    try {
      await pipeline(source, createGzip(), createWriteStream(tmp, { flags: "wx", mode: 0o444 }));
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw storeError(err, `cannot store the build log of ${drvHash} (store ${this.dir})`, this.dir);
    }
    return dest;
  }

  async readLog(drvHash: string): Promise<string | undefined> {
    try {
      return gunzipSync(await readFile(this.logPath(drvHash))).toString("utf8");
    } catch (err) {
      if (errCode(err) === "ENOENT") return undefined;
      throw err;
    }
  }

  // For tests and diagnostics: the raw lock table and schema version.
  debugState(): { schemaVersion: number; locks: ReturnType<StoreDb["locks"]>; rows: string[] } {
    return { schemaVersion: this.db.schemaVersion(), locks: this.db.locks(), rows: this.db.items().map((r) => r.path) };
  }
}
