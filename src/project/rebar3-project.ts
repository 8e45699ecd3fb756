// The package metadata of a rebar3 project, derived as rebar3_hex derives it, from
// src/APP.app.src, rebar.config and rebar.lock, all read with Erlang's file:consult/1:
// - name = `pkg_name` or the app; version = `vsn` (must be a literal string: `git` and
//   `{cmd, ...}` versions are computed by rebar3 at build time); description, licenses,
//   links ({Name, Url} pairs, ordered by name as Hex prints a map) from the .app.src;
//   build_tools = the .app.src's `build_tools` or ["rebar3"];
// - requirements from rebar.config's top-level `deps` (profiles are ignored):
//   `Name`, `{Name, "Req"}`, `{Name, {pkg, Pkg}}`, `{Name, "Req", {pkg, Pkg}}`. Without a
//   requirement, rebar3_hex uses "~>" ++ the version locked in rebar.lock; so do we. Source
//   (git, hg, ...) deps are refused, as rebar3_hex refuses them. All are non-optional, hexpm;
// - files: the .app.src's `files`, or rebar3_hex's default list (src c_src include
//   rebar.config.script priv rebar.config rebar.lock CHANGELOG* changelog* README* readme*
//   LICENSE* license* NOTICE), minus `exclude_paths` and paths matching `exclude_patterns` or
//   rebar3_hex's own (`~$`, `\.o$`, `\.so$`, `\.swp$`), plus `include_paths` (the pre-v7 names
//   include_files / exclude_files / exclude_regexps are read too). src/APP.app.src is always
//   included. Order: see files.ts (rebar3_hex itself sorts the whole list by path, and packs a
//   re-printed .app.src; we pack the file as it is).
// The files are read as terms inside the sandbox (./reader-sandbox.ts); a rebar.config.script
// is evaluated there as rebar3 evaluates it (./rebar3-config.ts), so deps it adds count. An
// .app.src.script is not read.
import { join } from "node:path";
import { BeamixError } from "../errors.ts";
import { tryParseVersion } from "../elixir/version.ts";
import type { Term } from "../erlang/term.ts";
import type { HexMetadata, HexRequirement } from "../hex/metadata.ts";
import { expandFiles, glob } from "./files.ts";
import { consultFiles } from "./run-script.ts";
import { readRebar3Config } from "./rebar3-config.ts";
import { atomOf, getKey, itemsOf, pairsOf, textOf } from "./term-json.ts";

export const REBAR3_HEX_DEFAULT_FILES = [
  "src", "c_src", "include", "rebar.config.script", "priv", "rebar.config", "rebar.lock",
  "CHANGELOG*", "changelog*", "README*", "readme*", "LICENSE*", "license*", "NOTICE",
];
const KNOWN_EXCLUDES = [/~$/u, /\.o$/u, /\.so$/u, /\.swp$/u];

export interface AppResource {
  app: string;
  props: [string, Term][];
}

// {application, Name, Props} from a consulted .app or .app.src.
export function appResourceOf(terms: Term, file: string): AppResource {
  const items = itemsOf(terms);
  const t = items?.length === 1 ? items[0] : undefined;
  if (t?.type !== "tuple" || t.items.length !== 3 || atomOf(t.items[0]) !== "application" || atomOf(t.items[1]) === null) {
    throw new BeamixError(`${file}: expected one {application, Name, Properties} term`);
  }
  const props = pairsOf(t.items[2]);
  if (props === null) throw new BeamixError(`${file}: the application properties must be a list`);
  return { app: atomOf(t.items[1])!, props };
}

export function textProp(res: AppResource, key: string, file: string): string | undefined {
  const v = getKey(res.props, key);
  if (v === undefined) return undefined;
  const s = textOf(v) ?? atomOf(v);
  if (s === null) throw new BeamixError(`${file}: ${key} must be a string`);
  return s;
}

export function stringsProp(res: AppResource, key: string, file: string): string[] | undefined {
  const v = getKey(res.props, key);
  if (v === undefined) return undefined;
  const out = itemsOf(v)?.map((x) => textOf(x) ?? atomOf(x));
  if (out === undefined || out.some((x) => x === null)) throw new BeamixError(`${file}: ${key} must be a list of strings`);
  return out as string[];
}

// {Name, Url} pairs as Hex prints them: a map, so one entry per name, ordered by name.
export function linksProp(res: AppResource, file: string): [string, string][] {
  const v = getKey(res.props, "links");
  if (v === undefined) return [];
  const byName = new Map<string, string>();
  for (const x of itemsOf(v) ?? []) {
    const k = x.type === "tuple" && x.items.length === 2 ? textOf(x.items[0]) ?? atomOf(x.items[0]) : null;
    const u = x.type === "tuple" && x.items.length === 2 ? textOf(x.items[1]) : null;
    if (k === null || u === null) throw new BeamixError(`${file}: links must be {Name, Url} pairs`);
    byName.set(k, u);
  }
  return [...byName].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export function versionProp(res: AppResource, file: string): string {
  const v = getKey(res.props, "vsn");
  const s = textOf(v);
  if (s === null || s === "") {
    throw new BeamixError(`${file}: vsn must be a literal version string (rebar3 computes git or cmd versions at build time)`);
  }
  // `{vsn, "git"}` (and "semver") are strings too, which rebar3 replaces by what git describe says.
  if (!tryParseVersion(s)) {
    throw new BeamixError(`${file}: vsn ${JSON.stringify(s)} is not a version${s === "git" || s === "semver" ? " (rebar3 computes it from git tags at build time)" : ""}; write the version the package is published as`);
  }
  return s;
}

// The version src/APP.app.src gives, when it is a literal one (undefined when there is no single
// .app.src or it says "git" or computes the version).
export async function appSrcVersion(dir: string): Promise<string | undefined> {
  const appSrcs = await glob(dir, "src/*.app.src", { matchDot: false });
  if (appSrcs.length !== 1) return undefined;
  const [read] = await consultFiles(dir, [appSrcs[0]]);
  if (!read.ok) return undefined;
  const vsn = textOf(getKey(appResourceOf(read.term, join(dir, appSrcs[0])).props, "vsn"));
  return vsn !== null && tryParseVersion(vsn) ? vsn : undefined;
}

// Top-level locked packages of rebar.lock: app name -> [package name, version].
function lockedPackages(terms: Term | undefined): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  const first = itemsOf(terms)?.[0];
  // Old locks are a bare list; newer ones {"1.2.0", List}.
  const entries = first?.type === "tuple" && first.items.length === 2 ? itemsOf(first.items[1]) : itemsOf(first);
  for (const e of entries ?? []) {
    if (e.type !== "tuple" || e.items.length !== 3) continue;
    const app = textOf(e.items[0]);
    const src = e.items[1];
    if (app === null || src.type !== "tuple" || atomOf(src.items[0]) !== "pkg" || src.items.length < 3) continue;
    const pkg = textOf(src.items[1]);
    const vsn = textOf(src.items[2]);
    if (pkg !== null && vsn !== null) out.set(app, [pkg, vsn]);
  }
  return out;
}

function requirementsOf(config: [string, Term][], lock: Map<string, [string, string]>, dir: string): HexRequirement[] {
  const file = join(dir, "rebar.config");
  const deps = getKey(config, "deps");
  const list = deps === undefined ? [] : itemsOf(deps);
  if (list === null) throw new BeamixError(`${file}: deps must be a list`);
  return list.map((dep, i): HexRequirement => {
    let app: string | null = atomOf(dep);
    let req: string | null = null;
    let pkg: string | null = null;
    let source: Term | undefined;
    if (dep.type === "tuple" && dep.items.length >= 2 && dep.items.length <= 3) {
      app = atomOf(dep.items[0]);
      const second = dep.items[1];
      req = textOf(second);
      source = dep.items.length === 3 ? dep.items[2] : req === null ? second : undefined;
    }
    if (app === null) throw new BeamixError(`${file}: cannot read entry ${i + 1} of deps`);
    if (source !== undefined) {
      if (source.type !== "tuple" || atomOf(source.items[0]) !== "pkg" || source.items.length !== 2) {
        throw new BeamixError(`${file}: dependency ${app} is not a Hex package; a Hex package can only depend on Hex packages`);
      }
      pkg = textOf(source.items[1]) ?? atomOf(source.items[1]);
    }
    if (req === null) {
      const locked = lock.get(app);
      if (locked === undefined) {
        throw new BeamixError(`${file}: dependency ${app} has no version requirement and rebar.lock does not lock it`);
      }
      req = `~>${locked[1]}`;
      pkg ??= locked[0];
    }
    return { name: pkg ?? app, app, requirement: req, optional: false, repository: "hexpm" };
  });
}

function erlangRegex(source: string, file: string): RegExp {
  try {
    return new RegExp(source, "u");
  } catch (e) {
    throw new BeamixError(`${file}: exclude pattern ${JSON.stringify(source)} cannot be used: ${(e as Error).message}`);
  }
}

export async function readRebar3Package(dir: string): Promise<{ metadata: HexMetadata; paths: string[] }> {
  const appSrcs = await glob(dir, "src/*.app.src", { matchDot: false });
  if (appSrcs.length !== 1) {
    throw new BeamixError(
      appSrcs.length === 0
        ? `${dir}: no src/APP.app.src (a .app.src.script is not read: it is code)`
        : `${dir}: more than one .app.src in src/: ${appSrcs.join(", ")}`,
    );
  }
  const appSrcFile = join(dir, appSrcs[0]);
  const [[appSrc, lock], config] = await Promise.all([consultFiles(dir, [appSrcs[0], "rebar.lock"]), readRebar3Config(dir)]);
  if (!appSrc.ok) throw new BeamixError(`${appSrcFile}: ${appSrc.message}`);
  const res = appResourceOf(appSrc.term, appSrcFile);
  const configPairs = config.pairs;
  if (!lock.ok && !/no such file/.test(lock.message)) throw new BeamixError(`${join(dir, "rebar.lock")}: ${lock.message}`);

  const pathsOf = async (keys: string[], fallback: string[]): Promise<string[]> => {
    const key = keys.find((k) => getKey(res.props, k) !== undefined);
    const patterns = key === undefined ? fallback : stringsProp(res, key, appSrcFile)!;
    return expandFiles(dir, patterns, { matchDot: true });
  };
  const all = await pathsOf(["files"], REBAR3_HEX_DEFAULT_FILES);
  const excluded = new Set(await pathsOf(["exclude_paths", "exclude_files"], []));
  const patternKey = ["exclude_patterns", "exclude_regexps"].find((k) => getKey(res.props, k) !== undefined);
  const regexes = [...KNOWN_EXCLUDES, ...(patternKey ? stringsProp(res, patternKey, appSrcFile)! : []).map((s) => erlangRegex(s, appSrcFile))];
  const paths = all.filter((p) => !excluded.has(p) && !regexes.some((re) => re.test(p)));
  for (const p of [...(await pathsOf(["include_paths", "include_files"], [])), `src/${res.app}.app.src`]) {
    if (!paths.includes(p)) paths.push(p);
  }

  const metadata: HexMetadata = {
    name: textProp(res, "pkg_name", appSrcFile) ?? res.app,
    version: versionProp(res, appSrcFile),
    app: res.app,
    files: paths,
    licenses: stringsProp(res, "licenses", appSrcFile) ?? [],
    buildTools: stringsProp(res, "build_tools", appSrcFile) ?? ["rebar3"],
    requirements: requirementsOf(configPairs, lockedPackages(lock.ok ? lock.term : undefined), dir),
    links: linksProp(res, appSrcFile),
    other: [],
  };
  const description = textProp(res, "description", appSrcFile);
  if (description !== undefined && description !== "") metadata.description = description;
  return { metadata, paths };
}
