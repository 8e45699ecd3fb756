// The content-addressed store: read-only item directories named by derivation hash, a database of
// the valid ones, GC roots as symlinks, compressed build logs. This is its API; the layout and the
// invariants every part keeps are at the top of store-core.ts, and each concern has its file:
//   store-core.ts  item names, validity, queries, deletion primitives
//   register.ts    staging trees, build locks, registration
//   roots.ts       permanent and temporary GC roots
//   gc.ts          garbage collection
//   verify.ts      verification and repair
//   recover.ts     recovery from crashed processes
//   logs.ts        build logs
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { defaultStoreDir } from "../config/paths.ts";
import { StoreDb } from "./db.ts";
import { gc, type GcResult } from "./gc.ts";
import { guard } from "./io-errors.ts";
import type { LockOptions } from "./locks.ts";
import { logPath, readLog, writeLog } from "./logs.ts";
import { recover, recoveryLines, type RecoveryReport } from "./recover.ts";
import { createStagingDir, ensureItem, register, withBuildLock, type BuildOutcome, type RegisterOptions } from "./register.ts";
import { addRoot, addTempRoot, listRoots, releaseTempRoots, removeRoot, type RootInfo } from "./roots.ts";
import { StoreCore, type StoreItem } from "./store-core.ts";
import { prepareStoreDir } from "./store-dir.ts";
import { verify, type VerifyOptions, type VerifyReport } from "./verify.ts";

export type { StoreItem } from "./store-core.ts";
export type { BuildOutcome, RegisterOptions, RegisterPhase, TreeHash } from "./register.ts";
export type { RootInfo } from "./roots.ts";
export type { FreedItem, GcResult } from "./gc.ts";
export type { Restorer, VerifyOptions, VerifyProblem, VerifyReport } from "./verify.ts";
export type { RecoveryReport } from "./recover.ts";
export { recoveryLines } from "./recover.ts";

export { defaultStoreDir };

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

export class Store {
  private readonly core: StoreCore;

  // Use openStore(), which also creates the layout and recovers from crashes.
  constructor(dir: string, db: StoreDb) {
    this.core = new StoreCore(dir, db);
  }

  get dir(): string {
    return this.core.dir;
  }

  // Opened without write access (see the invariants in store-core.ts).
  get readOnly(): boolean {
    return this.core.readOnly;
  }

  // Releases this instance's temporary roots and closes the database.
  async close(): Promise<void> {
    try {
      await releaseTempRoots(this.core);
    } finally {
      this.core.db.close();
    }
  }

  // ---- names and queries (store-core.ts) ----
  itemPath(drvHash: string, name: string, version: string): string {
    return this.core.itemPath(drvHash, name, version);
  }
  isValid(path: string): boolean {
    return this.core.isValid(path);
  }
  queryItem(path: string): StoreItem | undefined {
    return this.core.queryItem(path);
  }
  queryByDrvHash(drvHash: string): StoreItem | undefined {
    return this.core.queryByDrvHash(drvHash);
  }
  listItems(): StoreItem[] {
    return this.core.listItems();
  }
  // The valid items whose deriver's JSON text contains `text` (a quick preselection: the caller
  // checks the parsed deriver).
  listItemsMentioning(text: string): StoreItem[] {
    return this.core.listItemsMentioning(text);
  }
  references(path: string): string[] {
    return this.core.references(path);
  }
  referrers(path: string): string[] {
    return this.core.referrers(path);
  }
  // The items and everything they reference, transitively; sorted absolute paths.
  closure(paths: readonly string[]): string[] {
    return this.core.closure(paths);
  }

  // ---- adding items (register.ts) ----
  createStagingDir(): Promise<string> {
    return createStagingDir(this.core);
  }
  withBuildLock<T>(drvHash: string, fn: (existing: StoreItem | undefined) => Promise<T>, options?: LockOptions): Promise<T> {
    return withBuildLock(this.core, drvHash, fn, options);
  }
  ensureItem(spec: { drvHash: string; name: string; version: string }, build: (stagingDir: string) => Promise<BuildOutcome>, options?: LockOptions): Promise<{ item: StoreItem; built: boolean }> {
    return ensureItem(this.core, spec, build, options);
  }
  register(options: RegisterOptions): Promise<StoreItem> {
    return register(this.core, options);
  }

  // ---- roots (roots.ts) ----
  addRoot(name: string, target: string): Promise<string> {
    return addRoot(this.core, name, target);
  }
  removeRoot(name: string): Promise<boolean> {
    return removeRoot(this.core, name);
  }
  listRoots(): Promise<RootInfo[]> {
    return listRoots(this.core);
  }
  addTempRoot(path: string): Promise<void> {
    return addTempRoot(this.core, path);
  }
  releaseTempRoots(): Promise<void> {
    return releaseTempRoots(this.core);
  }

  // ---- keeping the store whole (gc.ts, verify.ts, recover.ts) ----
  gc(options: { dryRun?: boolean } = {}): Promise<GcResult> {
    return gc(this.core, options);
  }
  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    return verify(this.core, options);
  }
  recover(): Promise<RecoveryReport> {
    return recover(this.core);
  }

  // ---- build logs (logs.ts) ----
  logPath(drvHash: string): string {
    return logPath(this.core, drvHash);
  }
  writeLog(drvHash: string, log: string | Uint8Array | AsyncIterable<string | Uint8Array>): Promise<string> {
    return writeLog(this.core, drvHash, log);
  }
  readLog(drvHash: string): Promise<string | undefined> {
    return readLog(this.core, drvHash);
  }

  // For tests and diagnostics: the raw lock table and schema version.
  debugState(): { schemaVersion: number; locks: ReturnType<StoreDb["locks"]>; rows: string[] } {
    const db = this.core.db;
    return { schemaVersion: db.schemaVersion(), locks: db.locks(), rows: db.items().map((r) => r.path) };
  }
}
