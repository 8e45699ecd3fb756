// GC roots: symlinks under .beamix/roots that lead to the items gc must keep. Permanent ones are
// named by the user (or by `deps` for a project); temporary ones are named after a live process
// and protect what it is building or using until it exits.
import { readlinkSync } from "node:fs";
import { readdir, symlink, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { storeError } from "./io-errors.ts";
import { formatId, isAlive, parseId, selfId, type ProcessId } from "./process-id.ts";
import { placeRootLink } from "./root-links.ts";
import { errCode, type StoreCore } from "./store-core.ts";

const ROOT_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,199}$/;
const TEMP_ROOT_RE = /^temp-(\d+-\d+)-/;

export interface RootInfo {
  name: string;
  link: string; // absolute path of the symlink
  item: string | undefined; // absolute item path it leads to, if any valid one
  temporary: boolean;
  owner?: ProcessId; // for temporary roots
}

async function makeLink(s: StoreCore, name: string, target: string): Promise<string> {
  return placeRootLink(s.dir, name, target);
}

// Follows a root symlink (and further symlinks outside the store) to the item it leads to.
function rootTarget(s: StoreCore, link: string): string | undefined {
  let current = link;
  for (let hops = 0; hops < 40; hops++) {
    let target: string;
    try {
      target = readlinkSync(current);
    } catch {
      return undefined; // gone, or a regular file outside the store
    }
    const abs = resolve(dirname(current), target);
    const base = s.containingItem(abs);
    if (base !== undefined) return base;
    current = abs;
  }
  return undefined;
}

// A permanent root: `target` is an item path (or a path inside one), or a symlink that leads to
// one (an indirect root, e.g. a "result" link in a project; it stops protecting when removed).
export async function addRoot(s: StoreCore, name: string, target: string): Promise<string> {
  if (!ROOT_NAME_RE.test(name) || name.startsWith("temp-")) throw new BeamixError(`invalid GC root name ${JSON.stringify(name)}`);
  s.requireWritable(`add the GC root ${name}`);
  const abs = resolve(target);
  return s.guard(`add the GC root ${name}`, () =>
    s.locks.with("gc", async () => {
      const direct = s.containingItem(abs);
      const base = direct ?? rootTarget(s, abs);
      if (base === undefined || !s.validRow(base)) throw new BeamixError(`${target}: does not lead to a valid item of the store ${s.dir}`);
      return makeLink(s, name, abs);
    }),
  );
}

export async function removeRoot(s: StoreCore, name: string): Promise<boolean> {
  if (!ROOT_NAME_RE.test(name)) throw new BeamixError(`invalid GC root name ${JSON.stringify(name)}`);
  s.requireWritable(`remove the GC root ${name}`);
  try {
    await unlink(join(s.rootsDir, name));
    return true;
  } catch (err) {
    if (errCode(err) === "ENOENT") return false;
    throw storeError(err, `cannot remove the GC root ${name} (store ${s.dir})`, s.dir);
  }
}

export async function listRoots(s: StoreCore): Promise<RootInfo[]> {
  const out: RootInfo[] = [];
  for (const name of (await readdir(s.rootsDir)).sort()) {
    const link = join(s.rootsDir, name);
    const base = rootTarget(s, link);
    const m = TEMP_ROOT_RE.exec(name);
    out.push({
      name,
      link,
      item: base !== undefined && s.validRow(base) ? join(s.dir, base) : undefined,
      temporary: m !== null,
      ...(m ? { owner: parseId(m[1]) } : {}),
    });
  }
  return out;
}

// Protects an item (existing or about to be built) from gc for as long as this process lives, or
// until releaseTempRoots()/close(). Nothing to do in a read-only store: this process cannot
// add items to it, nor collect them.
export async function addTempRoot(s: StoreCore, path: string): Promise<void> {
  const base = s.containingItem(path);
  if (base === undefined) throw new BeamixError(`${path}: not an item path of the store ${s.dir}`);
  if (s.readOnly) return;
  const name = `temp-${formatId(selfId())}-${s.instance}-${base}`;
  if (s.tempRoots.has(name)) return;
  await s.guard("add a temporary GC root", () =>
    s.locks.with("gc", async () => {
      try {
        await symlink(join(s.dir, base), join(s.rootsDir, name));
      } catch (err) {
        if (errCode(err) !== "EEXIST") throw err;
      }
    }),
  );
  s.tempRoots.add(name);
}

export async function releaseTempRoots(s: StoreCore): Promise<void> {
  for (const name of s.tempRoots) {
    await unlink(join(s.rootsDir, name)).catch((err) => {
      if (errCode(err) !== "ENOENT") throw storeError(err, `cannot remove a temporary GC root (store ${s.dir})`, s.dir);
    });
    s.tempRoots.delete(name);
  }
}

// Items that roots lead to; temporary roots of dead processes are collected (and removed if prune).
export async function scanRoots(s: StoreCore, prune: boolean): Promise<{ roots: Set<string>; stale: string[] }> {
  const roots = new Set<string>();
  const stale: string[] = [];
  for (const name of await readdir(s.rootsDir)) {
    const m = TEMP_ROOT_RE.exec(name);
    if (m) {
      const owner = parseId(m[1]);
      if (!owner || !isAlive(owner)) {
        stale.push(join(s.rootsDir, name));
        if (prune) await unlink(join(s.rootsDir, name)).catch(() => {});
        continue;
      }
    }
    const base = rootTarget(s, join(s.rootsDir, name));
    if (base !== undefined) roots.add(base);
  }
  return { roots, stale };
}
