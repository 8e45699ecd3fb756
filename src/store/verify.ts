// Verification: every item re-hashed against its recorded output hash, rows checked against
// directories; with repair, damaged items restored from a trusted source or removed.
import { chmod, rename } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import type { ItemRow } from "./db.ts";
import { storeError } from "./io-errors.ts";
import { hashTree } from "./nar.ts";
import { makeReadOnly, removeTree } from "./perms.ts";
import { createStagingDir } from "./register.ts";
import type { StoreCore, StoreItem, Trashed } from "./store-core.ts";

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

// Re-hashes every item against its recorded output hash and checks rows against directories
// (a row without a directory: "missing"; a directory without a row: "unregistered"). The store
// is opened without recovery for this (the CLI does), so that both are reported, not removed.
// With repair, each damaged item (in reference order) is restored by the first restorer whose
// tree hashes to the recorded hash; one that cannot be restored is removed with everything
// referencing it (it is built or substituted again when next needed), and so are directories
// without rows.
export async function verify(s: StoreCore, options: VerifyOptions = {}): Promise<VerifyReport> {
  if (options.repair) s.requireWritable("repair items");
  return s.guard(options.repair ? "repair the store" : "verify the store", () => verifyGuarded(s, options));
}

async function verifyGuarded(s: StoreCore, options: VerifyOptions): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  // Rows against directories under the gc lock: no registration or deletion is half-way then.
  const { rows, missing, unregistered, foreign } = await s.underGcLock(async () => {
    const rows = s.db.items();
    const names = new Set(rows.map((r) => r.path));
    const dirs = await s.itemDirs();
    return { rows, missing: new Set(rows.filter((r) => !s.dirExists(r.path)).map((r) => r.path)), unregistered: dirs.items.filter((b) => !names.has(b)), foreign: dirs.foreign };
  });
  let ok = 0;
  for (const row of rows) {
    const path = join(s.dir, row.path);
    const deletedMeanwhile = () => s.db.item(row.path) === undefined; // by a concurrent gc
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
  for (const b of unregistered) problems.push({ path: join(s.dir, b), problem: "unregistered", detail: "a directory with no record in the store database (not valid)" });
  const report: VerifyReport = { checked: rows.length, ok, problems, foreign: foreign.map((f) => join(s.dir, f)), restored: [], unrestored: [], removed: [] };
  if (options.repair && problems.length > 0) await repair(s, problems, options, report);
  report.removed.sort();
  return report;
}

// Restores or removes the damaged items, removes directories without rows (verify --repair).
async function repair(s: StoreCore, problems: readonly VerifyProblem[], options: VerifyOptions, report: VerifyReport): Promise<void> {
  const say = options.report ?? (() => {});
  const damaged = new Set(problems.filter((p) => p.problem !== "unregistered").map((p) => s.itemBase(p.path)!));
  // References first: a rebuild needs its inputs whole.
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (b: string) => {
    if (seen.has(b)) return;
    seen.add(b);
    for (const r of s.db.references(b)) if (damaged.has(r)) visit(r);
    order.push(b);
  };
  for (const b of [...damaged].sort()) visit(b);
  for (const base of order) {
    const row = s.db.item(base);
    if (!row) continue; // removed meanwhile, or as a referrer of an item that could not be restored
    const from = await restoreItem(s, row, options.restorers ?? [], say);
    if (from !== undefined) {
      report.restored.push({ path: join(s.dir, base), from });
      continue;
    }
    report.unrestored.push(join(s.dir, base));
    const trash: Trashed[] = [];
    await s.locks.with("gc", async () => {
      if (s.db.item(base)) for (const b of await s.removeItemsLocked([base], trash)) report.removed.push(join(s.dir, b));
    });
    await s.discard(trash);
  }
  const trash: Trashed[] = [];
  await s.locks.with("gc", async () => {
    for (const p of problems.filter((p) => p.problem === "unregistered")) {
      const b = s.itemBase(p.path)!;
      if (s.db.item(b)) continue; // registered meanwhile
      const t = await s.moveToTrash(b);
      if (t) trash.push(t);
      report.removed.push(p.path);
    }
  });
  await s.discard(trash);
}

// Tries each restorer until one gives back the item's recorded tree, and puts that tree in place
// of the damaged one. Returns where it came from, or undefined.
async function restoreItem(s: StoreCore, row: ItemRow, restorers: readonly Restorer[], say: (line: string) => void): Promise<string | undefined> {
  const path = join(s.dir, row.path);
  const item = s.toItem(row);
  for (const restorer of restorers) {
    const staging = await createStagingDir(s);
    try {
      let from: string | undefined;
      try {
        from = await restorer(item, staging);
      } catch (err) {
        const e = storeError(err, `cannot restore ${path}`, s.dir);
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
      const swapped = await s.locks.with("gc", async () => {
        const now = s.db.item(row.path);
        if (!now || now.narHash !== row.narHash) return false; // removed or replaced meanwhile
        const old = await s.moveToTrash(row.path);
        if (old) trash.push(old);
        await rename(staging, path);
        await chmod(path, 0o555);
        return true;
      });
      await s.discard(trash);
      if (swapped) return from;
    } finally {
      await removeTree(staging); // nothing left if it was renamed into place
    }
  }
  return undefined;
}
