// The core of the content-addressed store: the item directories and the database rows that make
// them valid, the names and queries every other part of the store goes through, and the
// primitives of deletion. The other parts, each in its file: registering (register.ts), GC roots
// (roots.ts), garbage collection (gc.ts), verification and repair (verify.ts), crash recovery
// (recover.ts), build logs (logs.ts); store.ts puts them together as the Store API.
//
// This is the contract all of them keep.
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
import { lstatSync, type Stats } from "node:fs";
import { chmod, readdir, rename } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { BeamixError } from "../errors.ts";
import type { StoreDb, ItemRow } from "./db.ts";
import { guard } from "./io-errors.ts";
import { Locks } from "./locks.ts";
import { removeTree } from "./perms.ts";
import { formatId, selfId } from "./process-id.ts";

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

export const DRV_HASH_RE = /^[0-9a-z]{16,64}$/;
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}$/;
const VERSION_RE = /^[A-Za-z0-9_.+-]{1,100}$/;
export const ITEM_RE = /^([0-9a-z]{16,64})-[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

// A directory moved out of the store, waiting to be removed.
export interface Trashed {
  base: string;
  path: string;
}

export const errCode = (err: unknown) => (err as NodeJS.ErrnoException).code;

export function lstatOrUndefined(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

// The state the parts of the store share. Only src/store/ uses it; everyone else has Store.
export class StoreCore {
  readonly dir: string;
  readonly db: StoreDb;
  readonly locks: Locks;
  readonly instance = randomBytes(4).toString("hex");
  readonly tempRoots = new Set<string>();

  constructor(dir: string, db: StoreDb) {
    this.dir = dir;
    this.db = db;
    this.locks = new Locks(db);
  }

  // Opened without write access (see the invariants at the top).
  get readOnly(): boolean {
    return this.db.readOnly;
  }

  requireWritable(what: string): void {
    if (this.readOnly) throw new BeamixError(`cannot ${what}: the store ${this.dir} is read-only`);
  }

  // Runs fn, turning conditions of the disk into one line saying what could not be done.
  guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return guard(`cannot ${what} (store ${this.dir})`, this.dir, fn);
  }

  get meta() {
    return join(this.dir, ".beamix");
  }

  get tmpDir() {
    return join(this.meta, "tmp");
  }

  get rootsDir() {
    return join(this.meta, "roots");
  }

  get logsDir() {
    return join(this.meta, "logs");
  }

  itemPath(drvHash: string, name: string, version: string): string {
    if (!DRV_HASH_RE.test(drvHash)) throw new BeamixError(`invalid derivation hash ${JSON.stringify(drvHash)} (expected 16-64 characters 0-9a-z)`);
    if (!NAME_RE.test(name)) throw new BeamixError(`invalid store item name ${JSON.stringify(name)}`);
    if (!VERSION_RE.test(version)) throw new BeamixError(`invalid store item version ${JSON.stringify(version)} for ${name}`);
    return join(this.dir, `${drvHash}-${name}-${version}`);
  }

  // The item directory name of a path equal to or inside an item of this store.
  containingItem(path: string): string | undefined {
    const rel = relative(this.dir, resolve(path));
    if (rel === "" || isAbsolute(rel) || rel.startsWith(`..${sep}`) || rel === "..") return undefined;
    const first = rel.split(sep)[0];
    return ITEM_RE.test(first) ? first : undefined;
  }

  // The item directory name of an item path (exactly the item directory).
  itemBase(path: string): string | undefined {
    const base = this.containingItem(path);
    return base !== undefined && resolve(path) === join(this.dir, base) ? base : undefined;
  }

  dirExists(base: string): boolean {
    return lstatOrUndefined(join(this.dir, base))?.isDirectory() ?? false;
  }

  validRow(base: string): ItemRow | undefined {
    const row = this.db.item(base);
    return row && this.dirExists(base) ? row : undefined;
  }

  toItem(row: ItemRow): StoreItem {
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

  requireValid(path: string): string {
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

  tmpName(kind: string): string {
    return join(this.tmpDir, `${kind}-${formatId(selfId())}-${randomBytes(6).toString("hex")}`);
  }

  // Step one of deletion: the directory leaves the store under a name owned by this process.
  async moveToTrash(base: string): Promise<Trashed | undefined> {
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
  async discard(trash: Iterable<Trashed | undefined>): Promise<void> {
    for (const t of trash) if (t) await removeTree(t.path);
  }

  // Deletes the given items and, first, everything that references them (an item cannot outlive
  // what it references). Returns the directory names deleted, and the trash paths to remove.
  async removeItemsLocked(bases: readonly string[], trash: Trashed[]): Promise<string[]> {
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

  // Store directory entries that look like items.
  async itemDirs(): Promise<{ items: string[]; foreign: string[] }> {
    const items: string[] = [];
    const foreign: string[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      if (name === ".beamix") continue;
      (ITEM_RE.test(name) ? items : foreign).push(name);
    }
    return { items, foreign };
  }

  // Runs fn holding the store-wide gc lock; a read-only store (which this process cannot change,
  // nor take locks in) is only read.
  underGcLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.readOnly ? fn() : this.locks.with("gc", fn);
  }
}
