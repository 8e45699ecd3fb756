// The package metadata of an erlang.mk-style project (a Makefile, the application resource
// committed as ebin/APP.app), derived as erlang.mk's hex plugin (plugins/hex.mk) derives it:
// - name, version, description: the Makefile's PROJECT, PROJECT_VERSION, PROJECT_DESCRIPTION,
//   else what src/APP.app.src or ebin/APP.app say (a committed ebin/APP.app may be stale);
//   licenses and links from the first of those two that has them;
// - requirements: one per word of DEPS, from `dep_NAME = hex VERSION [PACKAGE]`; the
//   requirement is `hex_req_NAME` when set, else VERSION. LOCAL_DEPS are OTP applications and
//   not packages. A dep fetched another way (`dep_NAME = git URL TAG`, hg) becomes, as
//   erlang.mk publishes it, a requirement on the Hex package NAME: `hex_req_NAME` when set,
//   else the TAG (cowboy's cowlib and ranch); one that names no version (git-submodule, cp,
//   ln, svn) is refused;
// - files: erlang.mk's HEX_TARBALL_FILES, in its order: early-plugins.mk, ebin/APP.app,
//   ebin/APP.appup, erlang.mk, include/**.hrl, LICENSE*, Makefile, plugins.mk, priv/**,
//   README*, rebar.config, src/** (trees sorted by path, regular files only, no dot files);
//   erlang.mk lists no directories;
// - build_tools: ["make", "rebar3"] for an erlang.mk project (one that carries erlang.mk), as
//   erlang.mk's Hex publishing always writes them (real cowlib and ranch locks say
//   [:make, :rebar3]); for a hand-written Makefile, ["make"], plus "rebar3" when a
//   rebar.config is packaged (rebar3 can only build such a package through it).
// Only plain `VAR = value` lines are understood: a value that refers to other make variables
// cannot be read without running make and is refused. make is never run; the Makefile is read
// inside the sandbox, as every file of the package is read (./reader-sandbox.ts).
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError } from "../errors.ts";
import { tryParseRequirement } from "../elixir/requirement.ts";
import type { HexMetadata, HexRequirement } from "../hex/metadata.ts";
import { glob } from "./files.ts";
import { appResourceOf, linksProp, stringsProp, textProp } from "./rebar3-project.ts";
import { consultFiles, readPackageFile } from "./run-script.ts";

// Variables assigned in a Makefile (no includes, no conditionals evaluated, no define blocks).
export function makeVariables(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  // A backslash-newline and the blanks around it become one space.
  const lines = text.replace(/[ \t]*\\\r?\n[ \t]*/g, " ").split(/\r?\n/);
  let inDefine = false;
  for (const raw of lines) {
    const line = raw.replace(/(^|[^\\])#.*$/, "$1");
    if (/^\s*define\s/.test(line)) inDefine = true;
    if (inDefine) {
      if (/^\s*endef\b/.test(line)) inDefine = false;
      continue;
    }
    if (line.startsWith("\t")) continue; // recipe
    const m = /^\s*(?:override\s+|export\s+)?([A-Za-z0-9_.-]+)\s*(\+=|\?=|::=|:=|=)\s*(.*?)\s*$/.exec(line);
    if (m === null) continue;
    const [, name, op, value] = m;
    if (op === "?=" && vars.has(name)) continue;
    vars.set(name, op === "+=" && vars.has(name) ? `${vars.get(name)} ${value}`.trim() : value);
  }
  return vars;
}

const words = (s: string | undefined): string[] => (s ?? "").split(/\s+/).filter((w) => w !== "");

const byPath = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

// erlang.mk's core_find: the regular files under a directory whose path ends with `suffix`,
// skipping dot files, sorted by path.
async function findFiles(dir: string, rel: string, suffix: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (r: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(join(dir, r));
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const p = `${r}/${name}`;
      const st = await lstat(join(dir, p));
      if (st.isDirectory()) await visit(p);
      else if (p.endsWith(suffix)) out.push(p);
    }
  };
  await visit(rel);
  return out.sort(byPath);
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

export async function readErlangMkPackage(dir: string): Promise<{ metadata: HexMetadata; paths: string[] }> {
  const makefile = join(dir, "Makefile");
  const vars = makeVariables(await readPackageFile(dir, "Makefile"));
  // erlang.mk reads the values through $(strip ...): blanks collapse to one space.
  const value = (name: string): string | undefined => {
    const v = vars.get(name)?.replace(/\s+/g, " ").trim();
    if (v !== undefined && /\$[({]/.test(v)) {
      throw new BeamixError(`${makefile}: ${name} refers to other make variables; beamix reads only plain values`);
    }
    return v;
  };

  // The Makefile's variables are what erlang.mk builds the .app and the metadata from; a
  // committed ebin/APP.app may be stale. src/APP.app.src, then ebin/APP.app, fill the rest.
  const project = value("PROJECT");
  const pick = async (pattern: string, suffix: string): Promise<string | undefined> => {
    const list = await glob(dir, pattern, { matchDot: false });
    return list.find((p) => project !== undefined && p.endsWith(`/${project}${suffix}`)) ?? (list.length === 1 ? list[0] : undefined);
  };
  const appRels = [await pick("src/*.app.src", ".app.src"), await pick("ebin/*.app", ".app")].filter((p): p is string => p !== undefined);
  const appFiles = appRels.map((p) => join(dir, p));
  if (appFiles.length === 0) throw new BeamixError(`${dir}: no ebin/APP.app or src/APP.app.src to read the application from`);
  const resources = (await consultFiles(dir, appRels)).map((r, i) => {
    if (!r.ok) throw new BeamixError(`${appFiles[i]}: ${r.message}`);
    return { file: appFiles[i], res: appResourceOf(r.term, appFiles[i]) };
  });
  const app = project ?? resources[0].res.app;
  const fromApp = (key: string): string | undefined => {
    for (const { file, res } of resources) {
      const v = textProp(res, key, file);
      if (v !== undefined && v !== "") return v;
    }
    return undefined;
  };

  const requirements = words(value("DEPS")).map((dep): HexRequirement => {
    const spec = words(value(`dep_${dep}`));
    if (spec.length === 0) throw new BeamixError(`${makefile}: dependency ${dep} has no dep_${dep} line`);
    const req = value(`hex_req_${dep}`)?.trim();
    if (spec[0] === "hex") {
      if (spec.length < 2) throw new BeamixError(`${makefile}: dependency ${dep}: dep_${dep} = hex needs a version`);
      return { name: spec[2] ?? dep, app: dep, requirement: req || spec[1], optional: false, repository: "hexpm" };
    }
    // erlang.mk's query_version: the commit or tag of git and hg deps; none for the others.
    const tag = ["git", "git-subfolder", "hg"].includes(spec[0]) ? (value(`dep_${dep}_commit`)?.trim() || spec[2]) : undefined;
    const requirement = req || tag;
    if (!requirement) {
      throw new BeamixError(`${makefile}: dependency ${dep} is fetched with ${spec[0]} and names no version; set hex_req_${dep} to the Hex requirement it is published with`);
    }
    if (!tryParseRequirement(requirement)) {
      throw new BeamixError(`${makefile}: dependency ${dep} is fetched with ${spec[0]} at ${JSON.stringify(requirement)}, which is not a Hex requirement; set hex_req_${dep}`);
    }
    return { name: dep, app: dep, requirement, optional: false, repository: "hexpm" };
  });

  const paths: string[] = [];
  const add = (list: string[]): void => {
    for (const p of list) if (!paths.includes(p)) paths.push(p);
  };
  const addIfExists = async (rel: string): Promise<void> => {
    if (await exists(join(dir, rel))) add([rel]);
  };
  await addIfExists("early-plugins.mk");
  await addIfExists(`ebin/${app}.app`);
  await addIfExists(`ebin/${app}.appup`);
  await addIfExists("erlang.mk");
  add(await findFiles(dir, "include", ".hrl"));
  add(await glob(dir, "LICENSE*", { matchDot: false }));
  await addIfExists("Makefile");
  await addIfExists("plugins.mk");
  add(await findFiles(dir, "priv", ""));
  add(await glob(dir, "README*", { matchDot: false }));
  await addIfExists("rebar.config");
  add(await findFiles(dir, "src", ""));

  const version = value("PROJECT_VERSION") || fromApp("vsn");
  if (!version) throw new BeamixError(`${makefile}: no PROJECT_VERSION, and no vsn in ${appFiles.join(" or ")}`);
  const metadata: HexMetadata = {
    name: app,
    version,
    app,
    files: paths,
    licenses: resources.map(({ file, res }) => stringsProp(res, "licenses", file)).find((l) => l !== undefined) ?? [],
    buildTools: paths.includes("erlang.mk") || paths.includes("rebar.config") ? ["make", "rebar3"] : ["make"],
    requirements,
    links: resources.map(({ file, res }) => linksProp(res, file)).find((l) => l.length > 0) ?? [],
    other: [],
  };
  const description = value("PROJECT_DESCRIPTION") || fromApp("description");
  if (description !== undefined && description !== "") metadata.description = description;
  return { metadata, paths };
}
