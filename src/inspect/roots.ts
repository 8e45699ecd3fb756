// `beamix roots`: every GC root of the store, said in terms of what made it, and which of them
// are stale: an indirect root whose link is gone, the roots of a Mix project that no longer
// exists, temporary roots of processes that are dead.
import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { RootInfo, Store } from "../store/store.ts";
import { isAlive } from "../store/process-id.ts";
import { projectNotes } from "./projects.ts";

export type RootKind = "profile" | "project" | "link" | "temporary" | "other";

export interface RootEntry {
  name: string;
  kind: RootKind;
  item: string | null; // the item it keeps alive, if any valid one
  link?: string; // kind "link": the symlink (e.g. ./result) the root follows
  project?: { dir: string | null; mixEnv: string | null }; // kind "project"; null: not noted
  stale: string | null; // why the root is useless, or null
}

const DEPS_ROOT_RE = /^deps-([0-9a-f]{16})-/;
const PROFILE_ROOT_RE = /^profile-[0-9a-f]{16}-\d+-/;

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

export async function listRootEntries(store: Store): Promise<RootEntry[]> {
  const notes = await projectNotes(store);
  const out: RootEntry[] = [];
  for (const r of await store.listRoots()) out.push(await describe(store, r, notes));
  return out;
}

async function describe(store: Store, r: RootInfo, notes: Awaited<ReturnType<typeof projectNotes>>): Promise<RootEntry> {
  const base = { name: r.name, item: r.item ?? null };
  if (r.temporary) return { ...base, kind: "temporary", stale: r.owner && isAlive(r.owner) ? null : "its process is gone" };
  if (PROFILE_ROOT_RE.test(r.name)) return { ...base, kind: "profile", stale: r.item ? null : "leads to no valid item" };
  const deps = DEPS_ROOT_RE.exec(r.name);
  if (deps) {
    const note = notes.get(deps[1]);
    const project = { dir: note?.dir ?? null, mixEnv: note?.mixEnv ?? null };
    const gone = note !== undefined && !(await exists(join(note.dir, "mix.exs")));
    return { ...base, kind: "project", project, stale: gone ? `the project ${note.dir} no longer exists` : r.item ? null : "leads to no valid item" };
  }
  const target = await readlink(r.link).catch(() => undefined);
  if (target !== undefined && !target.startsWith(store.dir + "/")) {
    const live = await exists(target);
    return { ...base, kind: "link", link: target, stale: live && r.item ? null : live ? `${target} no longer leads to a store item` : `${target} is gone` };
  }
  return { ...base, kind: "other", stale: r.item ? null : "leads to no valid item" };
}

// Removes the named roots; returns those that existed.
export async function removeRoots(store: Store, names: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const n of names) if (await store.removeRoot(n)) removed.push(n);
  return removed;
}
