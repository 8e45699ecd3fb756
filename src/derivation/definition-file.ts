// Definition files: TypeScript (or JavaScript) modules written by hand, or by `beamix import`,
// that override the automatic definition of a package. The default export is either
//   - a whole definition (plain data, validated), which also pins the package to its version, or
//   - a function `(automatic: Definition) => Definition` that edits the automatic one: add
//     patches, environment, native inputs, phase overrides.
// A definition directory (-L DIR, repeatable, earlier ones win) holds one module per package,
// named after it: DIR/<package>.ts (or .js, .mjs).
import { readdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BeamixError, errorMessage } from "../errors.ts";
import { type Definition } from "./definition.ts";
import { validateDefinition } from "./definition-validate.ts";

export type DefinitionOverride =
  | { kind: "definition"; file: string; definition: Definition }
  | { kind: "edit"; file: string; package: string; edit: (automatic: Definition) => Definition | Promise<Definition> };

const EXTENSIONS = [".ts", ".mjs", ".js"];

export function isDefinitionFile(path: string): boolean {
  return EXTENSIONS.some((e) => path.endsWith(e));
}

export async function loadDefinitionFile(path: string): Promise<DefinitionOverride> {
  const file = resolve(path);
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw new BeamixError(`${file}: cannot load definition module: ${errorMessage(err).split("\n")[0]}`);
  }
  const exported = mod.default;
  if (typeof exported === "function") {
    // The file name says which package an edit applies to.
    const pkg = basename(file).replace(/\.(ts|mjs|js)$/, "");
    return { kind: "edit", file, package: pkg, edit: exported as (d: Definition) => Definition };
  }
  if (exported === undefined) throw new BeamixError(`${file}: a definition module must have a default export (a definition, or a function editing the automatic one)`);
  return { kind: "definition", file, definition: validateDefinition(exported, file) };
}

// Applies an override to a package's automatic definition and checks the result.
export async function applyOverride(override: DefinitionOverride, automatic: Definition): Promise<Definition> {
  if (override.kind === "definition") return override.definition;
  let edited: Definition;
  try {
    edited = await override.edit(structuredClone(automatic));
  } catch (err) {
    throw new BeamixError(`${override.file}: the definition function failed: ${errorMessage(err)}`);
  }
  const def = validateDefinition(edited, override.file);
  if (def.name !== automatic.name || def.version !== automatic.version) {
    throw new BeamixError(`${override.file}: an edit must keep the package and version (${automatic.name} ${automatic.version}), got ${def.name} ${def.version}`);
  }
  return def;
}

// Every definition module in the directories, by package (the first directory naming a package wins).
export async function loadDefinitionDirs(dirs: readonly string[]): Promise<Map<string, DefinitionOverride>> {
  const found = new Map<string, DefinitionOverride>();
  for (const dir of dirs) {
    const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      throw new BeamixError(`definition directory ${dir}: ${err.code === "ENOENT" ? "does not exist" : err.message}`);
    });
    for (const entry of entries.filter(isDefinitionFile).sort()) {
      const name = entry.replace(/\.(ts|mjs|js)$/, "");
      if (found.has(name)) continue;
      const o = await loadDefinitionFile(join(dir, entry));
      if (o.kind === "definition" && o.definition.name !== name) {
        throw new BeamixError(`${o.file}: defines ${o.definition.name}, but its file name says ${name}`);
      }
      found.set(name, o);
    }
  }
  return found;
}

export function overridePackage(o: DefinitionOverride): string {
  return o.kind === "definition" ? o.definition.name : o.package;
}
