// Asking Mix about a project (priv/elixir/deps_project.exs): its paths and its dependency
// declarations exactly as Mix's own dependency loader normalizes them, a git or path
// dependency's declarations, and the mix.rebar.config Mix writes for a rebar3 dependency.
// Mix runs with beamix's Hex SCM stand-in and an empty MIX_HOME, so no Hex archive is needed
// (or loaded) and nothing is fetched.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { binaryToTerm } from "../erlang/etf.ts";
import type { Term } from "../erlang/term.ts";
import { PRIV_DIR, firstLine, runTool } from "../project/run-script.ts";
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

const SCRIPT = join(PRIV_DIR, "elixir", "deps_project.exs");
const STANDIN = join(PRIV_DIR, "elixir", "hex_scm_standin.exs");

async function runScript(args: string[], mixEnv: string, what: string): Promise<Term> {
  const home = await mkdtemp(join(tmpdir(), "beamix-mixhome-"));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, MIX_ENV: mixEnv, MIX_HOME: home, HEX_HOME: home, HEX_OFFLINE: "1" };
    delete env.MIX_EXS; // the project is named by its directory
    const out = await runTool("elixir", ["-r", STANDIN, SCRIPT, ...args], env);
    const line = out.stdout.split("\n").find((l) => l.startsWith("BEAMIX-ETF ") || l.startsWith("BEAMIX-ERROR "));
    if (!line) throw new BeamixError(`${what}: Mix could not read it: ${firstLine(out.stderr) || `elixir exited with ${out.code}`}`);
    if (line.startsWith("BEAMIX-ERROR ")) throw new BeamixError(`${what}: ${line.slice("BEAMIX-ERROR ".length)}`);
    return binaryToTerm(Buffer.from(line.slice("BEAMIX-ETF ".length), "base64"));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
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

// The project in `dir` as Mix sees it in `mixEnv`.
export async function readMixProject(dir: string, mixEnv: string): Promise<MixProjectInfo> {
  const abs = resolve(dir);
  const what = join(abs, "mix.exs");
  if (!(await stat(what).then((s) => s.isFile(), () => false))) throw new BeamixError(`${abs}: not a Mix project (no mix.exs)`);
  const t = await runScript(["project", abs], mixEnv, what);
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

// The declarations of the Mix project in `dir` (a git or path dependency), read as Mix reads
// a dependency: in its own env.
export async function readDepChildren(app: string, dir: string, env: string): Promise<DepChildren> {
  const what = join(dir, "mix.exs");
  const t = await runScript(["children", app, resolve(dir)], env, what);
  return { app: text(field(t, "app"), what), version: optText(field(t, "version")), deps: depsOf(t, what) };
}

// The mix.rebar.config Mix writes before compiling the rebar3 dependency in `dir`.
export async function mixRebarConfig(app: string, dir: string): Promise<Buffer> {
  const t = await runScript(["rebar-config", app, resolve(dir)], "prod", join(dir, "rebar.config"));
  if (t.type !== "binary") throw new BeamixError(`${dir}/rebar.config: unexpected answer from Mix`);
  return t.value;
}
