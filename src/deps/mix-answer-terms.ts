// Mix's answers about a project, as beamix reads them: the project's paths and dependency
// declarations exactly as Mix's own dependency loader normalizes them, a git or path
// dependency's declarations, and a mix.rebar.config. Decoded from the terms
// priv/elixir/deps_project.ex sends (mix-query.ts asks; mix-answers.ts keeps them).
import { resolve, join } from "node:path";
import { BeamixError } from "../errors.ts";
import { binaryToTerm } from "../erlang/etf.ts";
import type { Term } from "../erlang/term.ts";
import { atomOf, getKey, itemsOf, pairsOf, textOf, truthy } from "../project/term-json.ts";

export type DepScm = "hex" | "git" | "path" | "other";

// One `{:app, ...}` entry of a mix.exs `deps`, after Mix's loader has read it.
export interface DepDecl {
  app: string;
  requirement: string | null; // a regex requirement is kept as its inspect text
  scm: DepScm;
  scmModule: string; // the module Mix chose, e.g. "Elixir.Mix.SCM.Git"
  hex?: { package: string; repo: string };
  git?: { url: string; lockOpts: [string, Term][] }; // lockOpts as Mix.SCM.Git compares them with the lock
  path?: string; // absolute
  env: string; // the MIX_ENV it is compiled with
  only: string[] | null; // environments it is for; null = all
  targets: string[] | null;
  optional: boolean;
  override: boolean;
  manager: string | null; // `manager:` given in mix.exs
  unsupported: string[]; // options beamix cannot honour (compile:, system_env:, sparse:, ...)
  dest: string; // where Mix keeps its sources (deps/APP)
  build: string; // where Mix keeps its compiled output (_build/ENV/lib/APP)
  from: string; // the mix.exs that declares it
}

export interface MixProjectInfo {
  dir: string;
  app: string;
  version: string | null;
  mixEnv: string;
  buildPath: string; // _build/ENV (absolute)
  depsPath: string; // deps (absolute)
  lockfile: string;
  configPath: string;
  elixirVersion: string; // System.version/0 of the Elixir that will run Mix
  otpRelease: string;
  deps: DepDecl[];
}

export interface DepChildren {
  app: string;
  version: string | null;
  deps: DepDecl[];
}

function field(t: Term, key: string): Term | undefined {
  if (t.type !== "map") return undefined;
  return t.entries.find(([k]) => atomOf(k) === key)?.[1];
}

function text(t: Term | undefined, what: string): string {
  const s = textOf(t) ?? atomOf(t);
  if (s === null) throw new BeamixError(`${what}: unexpected answer from Mix`);
  return s;
}

const optText = (t: Term | undefined): string | null => (truthy(t) ? (textOf(t) ?? atomOf(t)) : null);

function envList(t: Term | undefined): string[] | null {
  if (!truthy(t)) return null;
  const items = itemsOf(t) ?? [t];
  return items.map((x) => atomOf(x) ?? textOf(x) ?? "?");
}

const SCMS: Record<string, DepScm> = {
  "Elixir.Beamix.HexSCM": "hex",
  "Elixir.Hex.SCM": "hex",
  "Elixir.Mix.SCM.Git": "git",
  "Elixir.Mix.SCM.Path": "path",
};

// Options Mix honours that beamix does not: the dependency would not be built the way Mix builds it.
const UNSUPPORTED = ["compile", "system_env", "sparse", "subdir", "submodules", "depth"];

function depOf(t: Term, what: string): DepDecl {
  const app = text(field(t, "app"), what);
  const opts = pairsOf(field(t, "opts")) ?? [];
  const scmModule = text(field(t, "scm"), `${what} (${app})`);
  const scm = SCMS[scmModule] ?? "other";
  const opt = (k: string) => getKey(opts, k);
  const unsupported = UNSUPPORTED.filter((k) => truthy(opt(k)));
  const systemEnv = itemsOf(field(t, "system_env"));
  if (systemEnv && systemEnv.length > 0 && !unsupported.includes("system_env")) unsupported.push("system_env");
  const d: DepDecl = {
    app,
    requirement: optText(field(t, "requirement")),
    scm,
    scmModule,
    env: optText(opt("env")) ?? "prod",
    only: envList(opt("only")),
    targets: envList(opt("targets")),
    optional: truthy(opt("optional")),
    override: truthy(opt("override")),
    manager: optText(opt("manager")),
    unsupported,
    dest: text(opt("dest"), `${what} (${app}: dest)`),
    build: text(opt("build"), `${what} (${app}: build)`),
    from: optText(field(t, "from")) ?? what,
  };
  if (scm === "hex") d.hex = { package: optText(opt("hex")) ?? app, repo: optText(opt("repo")) ?? "hexpm" };
  if (scm === "git") {
    const lockOpts = opts.filter(([k]) => ["branch", "ref", "tag", "sparse", "subdir"].includes(k));
    if (truthy(opt("submodules"))) lockOpts.push(["submodules", { type: "atom", value: "true" }]);
    d.git = { url: text(opt("git"), `${what} (${app}: git)`), lockOpts };
  }
  if (scm === "path") d.path = resolve(text(opt("dest"), `${what} (${app}: path)`));
  return d;
}

function depsOf(t: Term, what: string): DepDecl[] {
  return (itemsOf(field(t, "deps")) ?? []).map((d) => depOf(d, what));
}

export function projectOf(t: Term, abs: string, what: string): MixProjectInfo {
  return {
    dir: abs,
    app: text(field(t, "app"), what),
    version: optText(field(t, "version")),
    mixEnv: text(field(t, "mix_env"), what),
    buildPath: text(field(t, "build_path"), what),
    depsPath: text(field(t, "deps_path"), what),
    lockfile: text(field(t, "lockfile"), what),
    configPath: text(field(t, "config_path"), what),
    elixirVersion: text(field(t, "elixir_version"), what),
    otpRelease: text(field(t, "otp_release"), what),
    deps: depsOf(t, what),
  };
}

export function childrenOf(t: Term, what: string): DepChildren {
  return { app: text(field(t, "app"), what), version: optText(field(t, "version")), deps: depsOf(t, what) };
}

export function rebarConfigOf(t: Term, dir: string): Buffer {
  if (t.type !== "binary") throw new BeamixError(`${dir}/rebar.config: unexpected answer from Mix`);
  return t.value;
}

// Mix's answers decoded, as the session decodes them (for answers kept by mix-answers.ts).
export function decodeProject(etf: Buffer, dir: string): MixProjectInfo {
  const abs = resolve(dir);
  return projectOf(binaryToTerm(etf), abs, join(abs, "mix.exs"));
}

export function decodeChildren(etf: Buffer, dir: string): DepChildren {
  return childrenOf(binaryToTerm(etf), join(dir, "mix.exs"));
}
