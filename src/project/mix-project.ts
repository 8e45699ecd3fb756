// The package metadata of a Mix project, derived from mix.exs as `mix hex.build` (Hex 2.1.1)
// derives it:
// - app, version, elixir and description come from `project/0`; the `package` options are
//   merged over them; description is trimmed; name is package[:name] or the app;
// - requirements: the `deps` that are Hex packages (a `hex:` option, or none of git/github/path)
//   and that reach prod (no `only:`, or `only:` including :prod), in mix.exs order, with
//   name = `hex:` or the app, repository = `repo:` (or `organization:`, "org:" prefix dropped)
//   or "hexpm", optional = `optional:`. Hex refuses deps with override/compile/manager/app/
//   system_env; so do we. A Hex dep without a version requirement is refused too (Hex would
//   write `nil` into the metadata);
// - files: package[:files] or Hex's default list, see files.ts; package[:exclude_patterns]
//   (Elixir regexes, run here as JavaScript regexes) and Hex's `\W\.DS_Store$` drop paths;
// - build_tools: package[:build_tools], or guessed from the top-level names in `files`.
import { BeamixError } from "../errors.ts";
import type { Term } from "../erlang/term.ts";
import type { HexMetadata, HexRequirement } from "../hex/metadata.ts";
import { expandFiles } from "./files.ts";
import { readMixConfig } from "./run-script.ts";
import { atomOf, binarify, getKey, itemsOf, pairsOf, regexOf, textOf, truthy } from "./term-json.ts";

export const HEX_DEFAULT_FILES = [
  "lib", "priv", ".formatter.exs", "mix.exs", "README*", "readme*", "LICENSE*", "license*",
  "CHANGELOG*", "changelog*", "src", "c_src", "Makefile*",
];

// Hex's table: a top-level file name in `files` means the package builds with that tool.
const BUILD_TOOL_FILES: [string, string][] = [
  ["mix.exs", "mix"],
  ["rebar", "rebar3"],
  ["rebar.lock", "rebar3"],
  ["rebar.config", "rebar3"],
  ["rebar.config.script", "rebar3"],
  ["erlang.mk", "make"],
  ["Makefile", "make"],
  ["Makefile.win", "make"],
];

export function guessBuildTools(files: string[]): string[] {
  const top = new Set(files.filter((f) => !f.includes("/")));
  const tools = BUILD_TOOL_FILES.filter(([f]) => top.has(f)).map(([, t]) => t);
  return tools.length === 0 ? ["mix"] : [...new Set(tools)];
}

// Elixir's String.trim/1 (Unicode whitespace).
const trim = (s: string): string => s.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, "");

function fail(dir: string, message: string): never {
  throw new BeamixError(`${dir}/mix.exs: ${message}`);
}

// Atom or string as text (to_string/1 on what mix.exs may hold).
function nameOf(t: Term | undefined): string | null {
  return atomOf(t) ?? textOf(t);
}

function stringList(t: Term, dir: string, what: string): string[] {
  const b = binarify(t, `${dir}/mix.exs ${what}`);
  const items = itemsOf(b);
  const out = items?.map((x) => textOf(x));
  if (out === undefined || out.some((x) => x === null)) fail(dir, `${what} must be a list of strings`);
  return out as string[];
}

// package options may be a keyword list or a map.
function optionPairs(t: Term | undefined, dir: string, what: string): [string, Term][] {
  if (t === undefined || (t.type === "atom" && t.value === "nil")) return [];
  if (t.type === "map") {
    return t.entries.map(([k, v]): [string, Term] => {
      const key = atomOf(k);
      if (key === null) fail(dir, `${what} keys must be atoms`);
      return [key, v];
    });
  }
  const pairs = pairsOf(t);
  if (pairs === null) fail(dir, `${what} must be a keyword list`);
  return pairs;
}

function jsRegex(t: Term, dir: string): RegExp {
  const r = regexOf(t);
  if (r === null) fail(dir, "package exclude_patterns must be regexes");
  let flags = "u";
  for (const o of r.opts) {
    if ("ims".includes(o)) flags += o;
    else if (o !== "u") fail(dir, `regex option "${o}" in exclude_patterns is not supported`);
  }
  try {
    return new RegExp(r.source, flags);
  } catch (e) {
    fail(dir, `exclude pattern ~r/${r.source}/ cannot be used: ${(e as Error).message}`);
  }
}

function requirementsOf(deps: Term | undefined, dir: string): HexRequirement[] {
  const list = deps === undefined ? [] : itemsOf(deps);
  if (list === null) fail(dir, "deps must be a list");
  const out: HexRequirement[] = [];
  for (const dep of list) {
    // Hex's normalize_dep: {app, opts}, {app, req} or {app, req, opts}.
    if (dep.type !== "tuple" || atomOf(dep.items[0]) === null || dep.items.length < 2 || dep.items.length > 3) {
      fail(dir, "a dependency must be {:app, requirement}, {:app, opts} or {:app, requirement, opts}");
    }
    const app = atomOf(dep.items[0])!;
    let req: Term | undefined;
    let opts: [string, Term][];
    if (dep.items.length === 3) {
      req = dep.items[1];
      opts = pairsOf(dep.items[2]) ?? fail(dir, `options of dependency ${app} must be a keyword list`);
    } else if (dep.items[1].type === "list") {
      opts = pairsOf(dep.items[1])!;
    } else {
      req = dep.items[1];
      opts = [];
    }
    const has = (k: string): boolean => opts.some(([key]) => key === k);
    const only = getKey(opts, "only");
    if (truthy(only)) {
      const envs = only.type === "list" ? only.items : [only];
      if (!envs.some((e) => atomOf(e) === "prod")) continue;
    }
    if (!has("hex") && ["git", "github", "path"].some(has)) continue;
    for (const key of ["override", "compile", "manager", "app"]) {
      if (has(key)) fail(dir, `cannot build a package with \`${key}:\` set for dependency ${app} (Hex refuses it too)`);
    }
    const systemEnv = getKey(opts, "system_env");
    if (systemEnv !== undefined && !(systemEnv.type === "list" && systemEnv.items.length === 0)) {
      fail(dir, `cannot build a package with \`system_env:\` set for dependency ${app} (Hex refuses it too)`);
    }
    const requirement = textOf(req);
    if (requirement === null) fail(dir, `Hex dependency ${app} has no version requirement`);
    const hex = getKey(opts, "hex");
    const name = truthy(hex) ? nameOf(hex) : app;
    if (name === null) fail(dir, `the hex: option of dependency ${app} must be an atom or a string`);
    const repoTerm = [getKey(opts, "repo"), getKey(opts, "organization")].find(truthy);
    const repo = repoTerm === undefined ? "hexpm" : nameOf(repoTerm);
    if (repo === null) fail(dir, `the repo: option of dependency ${app} must be a string`);
    const optionalTerm = getKey(opts, "optional");
    const optional = truthy(optionalTerm);
    if (optional && atomOf(optionalTerm) !== "true") fail(dir, `the optional: option of dependency ${app} must be a boolean`);
    // "org:acme" names the repository "acme".
    const colon = repo.indexOf(":");
    out.push({ name, app, requirement, optional, repository: colon < 0 ? repo : repo.slice(colon + 1) });
  }
  return out;
}

export async function readMixPackage(dir: string): Promise<{ metadata: HexMetadata; paths: string[] }> {
  const result = await readMixConfig(dir);
  if (!result.ok) fail(dir, result.message);
  const config = pairsOf(result.term) ?? fail(dir, "unexpected project configuration");
  if (truthy(getKey(config, "apps_path"))) fail(dir, "umbrella projects cannot be packaged (Hex refuses them too)");

  // Root fields, then the package options over them (Map.merge in Hex).
  const merged = new Map<string, Term>();
  for (const key of ["app", "version", "elixir", "description"]) {
    const v = getKey(config, key);
    if (v !== undefined) merged.set(key, v);
  }
  const packageOpts = optionPairs(getKey(config, "package"), dir, "package");
  for (const [k, v] of packageOpts) merged.set(k, v);
  const get = (k: string): Term | undefined => {
    const v = merged.get(k);
    return truthy(v) ? v : undefined;
  };

  const app = nameOf(get("app"));
  if (app === null) fail(dir, "the project has no :app");
  const version = textOf(get("version"));
  if (version === null) fail(dir, "the project has no :version string");

  const filesTerm = get("files");
  const patterns = filesTerm === undefined ? HEX_DEFAULT_FILES : stringList(filesTerm, dir, "package files");
  const excludeTerm = get("exclude_patterns");
  const excludes = [...(excludeTerm === undefined ? [] : (itemsOf(excludeTerm) ?? fail(dir, "exclude_patterns must be a list")).map((t) => jsRegex(t, dir))), /\W\.DS_Store$/u];
  const paths = (await expandFiles(dir, patterns, { matchDot: false })).filter((p) => !excludes.some((re) => re.test(p)));
  if (paths.length === 0) fail(dir, "the package has no files");

  const metadata: HexMetadata = {
    name: nameOf(get("name")) ?? app,
    version,
    app,
    files: paths,
    licenses: get("licenses") === undefined ? [] : stringList(get("licenses")!, dir, "package licenses"),
    buildTools: get("build_tools") === undefined ? guessBuildTools(paths) : stringList(get("build_tools")!, dir, "package build_tools"),
    requirements: requirementsOf(getKey(config, "deps"), dir),
    links: [],
    other: [],
  };
  const description = textOf(get("description"));
  if (description !== null) metadata.description = trim(description);
  const elixir = textOf(get("elixir"));
  if (elixir !== null) metadata.elixir = elixir;
  const links = get("links");
  if (links !== undefined) {
    const pairs = itemsOf(binarify(links, `${dir}/mix.exs package links`)) ?? [];
    metadata.links = pairs.map((p): [string, string] => {
      const k = p.type === "tuple" ? textOf(p.items[0]) : null;
      const v = p.type === "tuple" ? textOf(p.items[1]) : null;
      if (k === null || v === null) fail(dir, "package links must map names to URLs");
      return [k, v];
    });
  }
  const extra = get("extra");
  if (extra !== undefined) metadata.other.push(["extra", binarify(extra, `${dir}/mix.exs package extra`)]);
  return { metadata, paths };
}
