// Which Mix project each `deps-<key>-<package>` GC root belongs to. `beamix deps` names its roots
// after a hash of the project directory and MIX_ENV (src/deps/deps.ts), which cannot be turned
// back into the directory; so each run also notes the project here, in
// <store>/.beamix/projects/<key>.json, and `beamix roots` can say whose roots they are and
// whether the project still exists.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomicSync } from "../util/atomic-write.ts";
import { mkdirSync } from "node:fs";
import { sha256Hex } from "../util/sha256.ts";
import type { Store } from "../store/store.ts";

export interface ProjectNote {
  key: string;
  dir: string;
  mixEnv: string;
}

// The key of the roots `beamix deps` adds for a project (src/deps/deps.ts).
export const depsRootKey = (dir: string, mixEnv: string) => sha256Hex(`${dir}\0${mixEnv}`).slice(0, 16);

const notesDirOf = (storeDir: string) => join(storeDir, ".beamix", "projects");
const notesDir = (store: Store) => notesDirOf(store.dir);

export async function noteProject(store: Store, dir: string, mixEnv: string): Promise<void> {
  if (!store.readOnly) await noteProjectIn(store.dir, dir, mixEnv);
}

// The same, in a store known writable, without opening it.
export async function noteProjectIn(storeDir: string, dir: string, mixEnv: string): Promise<void> {
  const key = depsRootKey(dir, mixEnv);
  mkdirSync(notesDirOf(storeDir), { recursive: true });
  writeFileAtomicSync(join(notesDirOf(storeDir), `${key}.json`), JSON.stringify({ key, dir, mixEnv }) + "\n");
}

// The prefix of the names of those roots: deps-<key>-<package>.
export const depsRootPrefix = (dir: string, mixEnv: string): string => `deps-${depsRootKey(dir, mixEnv)}-`;

export async function projectNotes(store: Store): Promise<Map<string, ProjectNote>> {
  const out = new Map<string, ProjectNote>();
  let names: string[];
  try {
    names = await readdir(notesDir(store));
  } catch {
    return out;
  }
  for (const name of names.filter((n) => /^[0-9a-f]{16}\.json$/.test(n))) {
    try {
      const note = JSON.parse(await readFile(join(notesDir(store), name), "utf8")) as ProjectNote;
      if (typeof note.dir === "string" && typeof note.mixEnv === "string" && depsRootKey(note.dir, note.mixEnv) === note.key) out.set(note.key, note);
    } catch {
      // a note damaged or half-written by another tool: its roots are listed as of an unknown project
    }
  }
  return out;
}
