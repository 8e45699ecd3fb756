// Recovery: undoing what crashed processes left behind (temporaries, stale temporary roots, rows
// and directories that disagree, dead locks), as the contract in store-core.ts promises.
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { removeTree } from "./perms.ts";
import { isAlive, parseId } from "./process-id.ts";
import { scanRoots } from "./roots.ts";
import type { StoreCore, Trashed } from "./store-core.ts";

const TMP_OWNER_RE = /^[a-z]+-(\d+-\d+)-/;

export interface RecoveryReport {
  leftovers: string[]; // temporaries of dead processes removed from .beamix/tmp
  staleTempRoots: string[];
  unregistered: string[]; // item directories without a row, removed
  missing: string[]; // rows without a directory, removed
  removedReferrers: string[]; // valid-looking items removed because something they reference was gone
  staleLocks: number;
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

// Temporaries of dead processes in .beamix/tmp.
export async function removeLeftovers(s: StoreCore): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(s.tmpDir)) {
    const m = TMP_OWNER_RE.exec(name);
    const owner = m ? parseId(m[1]) : undefined;
    if (owner && !isAlive(owner)) {
      await removeTree(join(s.tmpDir, name));
      removed.push(join(s.tmpDir, name));
    }
  }
  return removed;
}

// Undoes what crashed processes left behind. Runs when the store is opened; cheap when there is
// nothing to do (the gc lock is taken only if rows and directories disagree). What it removed
// is in the report (openStore says it, recoveryLines).
export async function recover(s: StoreCore): Promise<RecoveryReport> {
  s.requireWritable("recover from interrupted processes");
  return s.guard("recover from interrupted processes", () => recoverGuarded(s));
}

async function recoverGuarded(s: StoreCore): Promise<RecoveryReport> {
  const report: RecoveryReport = {
    leftovers: await removeLeftovers(s),
    staleTempRoots: (await scanRoots(s, true)).stale,
    unregistered: [],
    missing: [],
    removedReferrers: [],
    staleLocks: 0,
  };
  const consistent = async () => {
    const rows = new Set(s.db.items().map((r) => r.path));
    const dirs = (await s.itemDirs()).items;
    return dirs.every((d) => rows.has(d)) && [...rows].every((r) => s.dirExists(r));
  };
  if (!(await consistent())) {
    const trash: Trashed[] = [];
    await s.locks.with("gc", async () => {
      // Under the gc lock no registration is between its rename and its insert, so any
      // disagreement now is debris.
      const rows = s.db.items().map((r) => r.path);
      const missing = rows.filter((r) => !s.dirExists(r));
      const removed = await s.removeItemsLocked(missing, trash);
      report.missing = missing.map((b) => join(s.dir, b));
      report.removedReferrers = removed.filter((b) => !missing.includes(b)).map((b) => join(s.dir, b));
      for (const b of (await s.itemDirs()).items) {
        if (s.db.item(b)) continue;
        const t = await s.moveToTrash(b);
        if (t) trash.push(t);
        report.unregistered.push(join(s.dir, b));
      }
    });
    await s.discard(trash);
  }
  report.staleLocks = s.locks.pruneDead();
  return report;
}
