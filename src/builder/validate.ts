// Checks of an installed output. A build can succeed with a dependency missing (Erlang and
// Elixir only warn that a module is not available), so the .app is the contract: it must name
// the right application and version, its modules must be there, and every application it
// needs must exist at run time: in the toolchain (OTP or Elixir) or among the inputs.
// A second check looks for host paths (the build directory, the store) in the output, which
// would make it depend on where it was built.
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { parseTerms } from "../erlang/parse.ts";
import { listView, unwrap, type Term } from "../erlang/term.ts";
import { errorMessage } from "../errors.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import { searchableParts } from "./beam-chunks.ts";

export interface AppFile {
  app: string;
  vsn: string | null;
  modules: string[];
  applications: string[];
  includedApplications: string[];
  optionalApplications: string[];
}

const atomOf = (t: Term): string | null => (unwrap(t).type === "atom" ? (unwrap(t) as { value: string }).value : null);

function textOf(t: Term): string | null {
  const u = unwrap(t);
  if (u.type === "binary") return u.value.toString("utf8");
  const v = listView(u);
  if (!v || v.tail !== null) return null;
  let s = "";
  for (const it of v.items) {
    const c = unwrap(it);
    if (c.type !== "integer") return null;
    s += String.fromCodePoint(Number(c.value));
  }
  return s;
}

function atomList(t: Term | undefined, key: string, file: string): string[] {
  if (t === undefined) return [];
  const v = listView(unwrap(t));
  const out = v && v.tail === null ? v.items.map(atomOf) : null;
  if (!out || out.some((a) => a === null)) throw new Error(`${file}: ${key} is not a list of atoms`);
  return out as string[];
}

// Reads an application resource file ({application, App, [Props]}).
export function parseAppFile(text: string, file: string): AppFile {
  const terms = parseTerms(text, file);
  const t = terms.length === 1 ? unwrap(terms[0]) : null;
  if (!t || t.type !== "tuple" || t.items.length !== 3 || atomOf(t.items[0]) !== "application" || atomOf(t.items[1]) === null) {
    throw new Error(`${file}: not an application resource file ({application, App, [...]}.)`);
  }
  const props = new Map<string, Term>();
  const pv = listView(unwrap(t.items[2]));
  if (!pv || pv.tail !== null) throw new Error(`${file}: the application's properties are not a list`);
  for (const p of pv.items) {
    const u = unwrap(p);
    if (u.type === "tuple" && u.items.length === 2) {
      const k = atomOf(u.items[0]);
      if (k !== null && !props.has(k)) props.set(k, u.items[1]);
    }
  }
  const vsn = props.get("vsn");
  return {
    app: atomOf(t.items[1])!,
    vsn: vsn === undefined ? null : textOf(vsn),
    modules: atomList(props.get("modules"), "modules", file),
    applications: atomList(props.get("applications"), "applications", file),
    includedApplications: atomList(props.get("included_applications"), "included_applications", file),
    optionalApplications: atomList(props.get("optional_applications"), "optional_applications", file),
  };
}

async function dirNames(dir: string | null): Promise<string[]> {
  if (!dir) return [];
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

const exists = async (p: string): Promise<boolean> => {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
};

// Applications the toolchain provides: OTP's lib/<app>-<vsn> and Elixir's lib/<app>/ebin/<app>.app.
export async function toolchainApps(tc: Toolchain): Promise<Set<string>> {
  const apps = new Set<string>();
  for (const name of await dirNames(join(tc.paths.erlRoot, "lib"))) {
    const dash = name.lastIndexOf("-");
    if (dash > 0) apps.add(name.slice(0, dash));
  }
  if (tc.paths.elixirRoot) {
    const lib = join(tc.paths.elixirRoot, "lib");
    for (const name of await dirNames(lib)) if (await exists(join(lib, name, "ebin", `${name}.app`))) apps.add(name);
  }
  return apps;
}

export interface ValidateOptions {
  libDir: string; // the installed <app>-<version> directory
  app: string;
  version: string;
  inputApps: readonly string[];
  toolchain: Toolchain;
}

// The problems found, each one line; empty when the output is fine.
export async function validateInstalledApp(o: ValidateOptions): Promise<string[]> {
  const file = join(o.libDir, "ebin", `${o.app}.app`);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    const apps = (await dirNames(join(o.libDir, "ebin"))).filter((n) => n.endsWith(".app"));
    return [`no ebin/${o.app}.app was installed${apps.length > 0 ? ` (found ${apps.join(", ")})` : ""}`];
  }
  let app: AppFile;
  try {
    app = parseAppFile(text, `ebin/${o.app}.app`);
  } catch (err) {
    return [errorMessage(err)];
  }
  const problems: string[] = [];
  if (app.app !== o.app) problems.push(`ebin/${o.app}.app names application ${app.app}, expected ${o.app}`);
  if (app.vsn !== o.version) problems.push(`ebin/${o.app}.app has vsn ${JSON.stringify(app.vsn)}, expected ${JSON.stringify(o.version)}`);
  const missingBeams: string[] = [];
  for (const m of app.modules) if (!(await exists(join(o.libDir, "ebin", `${m}.beam`)))) missingBeams.push(m);
  if (missingBeams.length > 0) problems.push(`ebin/${o.app}.app lists modules with no .beam: ${missingBeams.join(", ")}`);
  const known = await toolchainApps(o.toolchain);
  for (const a of o.inputApps) known.add(a);
  const optional = new Set(app.optionalApplications);
  const needed = [...app.applications, ...app.includedApplications].filter((a, i, all) => all.indexOf(a) === i);
  const missing = needed.filter((a) => !known.has(a) && !optional.has(a));
  if (missing.length > 0) {
    problems.push(`ebin/${o.app}.app needs applications that are neither in the toolchain nor among the inputs: ${missing.join(", ")}`);
  }
  return problems;
}

export interface PathHit {
  file: string; // relative to the searched directory
  path: string; // which of the searched-for paths
}

// Files under `dir` whose content (expanded, for BEAM files) holds one of `paths`.
export async function findEmbeddedPaths(dir: string, paths: readonly string[]): Promise<PathHit[]> {
  const needles = [...new Set(paths.filter((p) => p.length > 1))].map((p) => ({ path: p, bytes: Buffer.from(p, "utf8") }));
  const hits: PathHit[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const parts = searchableParts(await readFile(p));
        for (const n of needles) if (parts.some((part) => part.includes(n.bytes))) hits.push({ file: relative(dir, p), path: n.path });
      }
    }
  };
  await walk(dir);
  return hits;
}
