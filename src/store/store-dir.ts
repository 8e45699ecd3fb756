// What makes a directory a store, checked before one is opened.
//
// beamix deletes things in a store: recovery, gc and verify --repair remove directories whose
// names look like items. So it must never take an ordinary directory for a store (`--store
// ~/Pictures` once deleted a user's `20240101120000000-photos/`). A store carries a marker,
// <store>/.beamix/store, whose first line names the format ("beamix store 1"), written when the
// store is made. A directory becomes a store only when it is new or empty (nothing in it but a
// .beamix directory); one made by an earlier beamix (.beamix/db.sqlite, no marker) is marked the
// first time it is opened with write access. Anything else is refused, with one line.
//
// Whether the store can be written is decided here too: a store the user may only read (another
// user's, a read-only mount) is opened read-only.
import { constants } from "node:fs";
import { access, lstat, mkdir, readdir, readFile, realpath, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { conditionText } from "./io-errors.ts";

export const STORE_FORMAT = 1;
export const MARKER_NAME = "store"; // under .beamix
const MARKER_RE = /^beamix store (\d+)$/;

export interface StoreDir {
  dir: string; // real path
  writable: boolean;
  state: "marked" | "new" | "legacy"; // legacy: an earlier beamix's store (marked now if writable)
}

const errCode = (err: unknown) => (err as NodeJS.ErrnoException).code;

// A condition of the disk as one line about the store directory; anything else is rethrown.
function fail(shown: string, doing: string, err: unknown): never {
  const text = conditionText(err);
  if (text === undefined) throw err;
  throw new BeamixError(`${shown}: ${doing}: ${text}`, { cause: err });
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errCode(err) === "ENOENT") return false;
    throw err;
  }
}

// The nearest ancestor of `path` that exists but is not a directory (stat said ENOTDIR).
async function fileAbove(path: string): Promise<string> {
  for (let p = dirname(path); dirname(p) !== p; p = dirname(p)) {
    const st = await stat(p).catch(() => undefined);
    if (st && !st.isDirectory()) return p;
  }
  return "a part of the path";
}

async function writable(path: string): Promise<boolean> {
  try {
    await access(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

// The format named by a marker, or undefined when there is none.
async function readMarker(shown: string, meta: string): Promise<number | undefined> {
  const file = join(meta, MARKER_NAME);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (errCode(err) === "ENOENT") return undefined;
    if (errCode(err) === "ENOTDIR") throw new BeamixError(`${shown}: not a beamix store (.beamix is not a directory)`);
    if (errCode(err) === "EISDIR") throw new BeamixError(`${shown}: not a beamix store (${file} is a directory)`);
    fail(shown, `cannot read ${file}`, err);
  }
  const m = MARKER_RE.exec(text.split("\n")[0]);
  if (!m) throw new BeamixError(`${shown}: not a beamix store (${file} does not start with "beamix store N")`);
  const format = Number(m[1]);
  if (format !== STORE_FORMAT) throw new BeamixError(`${shown}: store format ${format}, but this beamix reads format ${STORE_FORMAT} only`);
  return format;
}

export async function writeMarker(meta: string): Promise<void> {
  await mkdir(meta, { recursive: true });
  await writeFileAtomic(join(meta, MARKER_NAME), `beamix store ${STORE_FORMAT}\n`);
}

// Checks (and, when it is new, makes) the store directory `path`.
export async function prepareStoreDir(path: string): Promise<StoreDir> {
  const abs = resolve(path);
  try {
    if (!(await stat(abs)).isDirectory()) throw new BeamixError(`${path}: not a directory, so not a store`);
  } catch (err) {
    if (err instanceof BeamixError) throw err;
    if (errCode(err) === "ENOTDIR") throw new BeamixError(`${path}: cannot make a store there: ${await fileAbove(abs)} is a file`);
    if (errCode(err) !== "ENOENT") fail(path, "cannot use it as a store", err);
    try {
      await mkdir(abs, { recursive: true });
    } catch (mkErr) {
      fail(path, "cannot make a store there", mkErr);
    }
  }
  const dir = await realpath(abs);
  const meta = join(dir, ".beamix");
  const format = await readMarker(path, meta);
  const db = join(meta, "db.sqlite");
  const canWrite = (await writable(dir)) && (!(await exists(meta)) || (await writable(meta))) && (!(await exists(db)) || (await writable(db)));
  if (format !== undefined) return { dir, writable: canWrite, state: "marked" };

  const legacy = await exists(db);
  if (!legacy) {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (err) {
      fail(path, "cannot list it", err);
    }
    const others = entries.filter((e) => e !== ".beamix");
    if (others.length > 0) {
      throw new BeamixError(
        `${path}: not a beamix store (no .beamix/${MARKER_NAME}) and not empty (${others.length} entr${others.length === 1 ? "y" : "ies"}, e.g. ${JSON.stringify(others.sort()[0])}); give a new or empty directory`,
      );
    }
  }
  if (!canWrite) {
    if (legacy) return { dir, writable: false, state: "legacy" };
    throw new BeamixError(`${path}: cannot make a store there: the directory is not writable`);
  }
  try {
    await writeMarker(meta);
  } catch (err) {
    fail(path, "cannot mark it as a store", err);
  }
  return { dir, writable: true, state: legacy ? "legacy" : "new" };
}
