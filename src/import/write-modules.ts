// Writes definition modules into a definition directory, each file atomically (a temporary
// name, then a rename or a link), and never over an existing one unless told to.
import { link, lstat, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";

export interface ModuleFile {
  name: string; // the package: the file is DIR/<name>.ts
  version: string;
  text: string;
}

export interface WrittenModule {
  name: string;
  version: string;
  path: string; // absolute
}

// Other extensions a definition directory reads; a sibling with one of them would be loaded
// instead of (or beside) ours, so its presence is an error whatever --force says.
const OTHER_EXTENSIONS = [".js", ".mjs"];

const exists = (path: string) => lstat(path).then(() => true, (err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? false : Promise.reject(err)));

export async function writeDefinitionModules(dir: string, modules: readonly ModuleFile[], opts: { force?: boolean } = {}): Promise<WrittenModule[]> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    const why = err.code === "EEXIST" || err.code === "ENOTDIR" ? "a file is in the way" : (err.code ?? err.message);
    throw new BeamixError(`cannot create definition directory ${root}: ${why}`);
  });
  const entries = new Set(await readdir(root));
  // Check everything before writing anything: a refused import leaves the directory as it was.
  const shadowing = modules.flatMap((m) => OTHER_EXTENSIONS.map((e) => m.name + e)).filter((f) => entries.has(f));
  if (shadowing.length) {
    throw new BeamixError(`${root}: ${shadowing.join(", ")} already define${shadowing.length === 1 ? "s" : ""} the package; remove ${shadowing.length === 1 ? "it" : "them"} or import into another directory`);
  }
  if (!opts.force) {
    const taken = modules.map((m) => `${m.name}.ts`).filter((f) => entries.has(f));
    if (taken.length) throw new BeamixError(`${root}: ${taken.join(", ")} already exist${taken.length === 1 ? "s" : ""}; use --force to overwrite`);
  }
  const written: WrittenModule[] = [];
  for (const m of modules) {
    const path = join(root, `${m.name}.ts`);
    const tmp = join(root, `.${m.name}.ts.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      await writeFile(tmp, m.text, { flag: "wx" });
      if (opts.force) await rename(tmp, path);
      // link() fails if the name appeared since the check: no file is ever overwritten.
      else await link(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST" && !opts.force && (await exists(path))) {
        throw new BeamixError(`${path} already exists; use --force to overwrite`);
      }
      throw new BeamixError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    } finally {
      await rm(tmp, { force: true });
    }
    written.push({ name: m.name, version: m.version, path });
  }
  return written;
}
