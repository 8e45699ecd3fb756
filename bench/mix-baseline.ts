// The Mix baseline of the benchmark: how long Mix itself takes to compile a closure as the
// dependencies of one project (`MIX_ENV=prod mix deps.compile`), and a no-op `mix compile`
// of that project afterwards.
//
// What it does, exactly (Hex cannot be installed here, and nothing may be fetched):
//   1. MIX_HOME is a fresh directory with rebar3 registered from the system
//      (`mix local.rebar rebar3 $(command -v rebar3)`); HOME, HEX_HOME and REBAR_CACHE_DIR are
//      fresh too, and no Mix, Hex, rebar or ERL_* variable of the caller is passed on.
//   2. The consumer project is copied; each package directory is packed into a Hex tarball and
//      unpacked into deps/APP with beamix's own packer, as `mix deps.get` would unpack the
//      tarball (so deps/ holds exactly the package's files). erlang.mk-style packages ship a
//      stale ebin/APP.app with the same timestamp as their sources, on which plain `make` is a
//      silent no-op; it is deleted, as beamix's build does too.
//   3. Mix runs as `elixir -r priv/elixir/hex_scm_standin.exs -S mix ...`: the stand-in is the
//      SCM that accepts version-only dependencies in place of Hex; it reports every dependency
//      as checked out and every lock as ok, so Mix compiles deps/APP in place with the normal
//      manager for each (mix: `mix compile` in the dependency under the project's config;
//      rebar3: `rebar3 bare compile`; make: `make` with ERL_LIBS=_build/prod/lib).
//   4. Mix learns the dependencies of mix and rebar3 packages from their mix.exs and
//      rebar.config, but never those of a make package: Mix's loader gives make dependencies
//      no children even when Hex's lock lists them (real erlang.mk packages on Hex also list
//      rebar3 as a build tool, and Mix then builds them with rebar3). So:
//      - packages that only make packages depend on are added to a copy of the consumer's
//        mix.exs as top-level `{:app, ">= 0.0.0"}` dependencies;
//      - Mix orders dependencies it sees no edge between arbitrarily (deterministically), and
//        may put a make package before what it needs. The compile order is read from Mix
//        (`Mix.Dep.load_and_cache/0`, the order `mix deps.compile` uses); when it is wrong,
//        `mix deps.compile` runs in phases, each naming the packages whose dependencies are
//        compiled by then (`mix deps.compile A B ...`), and the phases' times are summed (each
//        extra phase adds one Mix start-up, about 0.4 s, to the baseline).
//   5. Timed: `mix deps.compile` from nothing (no _build); then `mix compile` once untimed
//      (it compiles the project's own modules), then `runs` no-op `mix compile`s.
import { spawn } from "node:child_process";
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { packDirectory } from "../src/project/hex-pack.ts";
import { unpackTarball } from "../src/hex/unpack.ts";
import type { HexMetadata } from "../src/hex/metadata.ts";

export const HEX_SCM_STANDIN = fileURLToPath(new URL("../priv/elixir/hex_scm_standin.exs", import.meta.url));

export interface MixProjectInput {
  consumerDir: string; // a Mix project; it is copied, never modified
  packageDirs: string[]; // the closure: package directories in Hex package layout
  workDir: string; // an empty scratch directory
}

export interface PreparedMixProject {
  projectDir: string;
  env: NodeJS.ProcessEnv;
  apps: PackageInfo[];
  // Dependencies added to the consumer's mix.exs because only make packages need them.
  addedTopLevelDeps: string[];
  // Mix's compile order of the dependencies.
  compileOrder: string[];
  // `mix deps.compile` invocations: [] means one invocation with no names (all dependencies).
  phases: string[][];
  logDir: string;
}

export interface PackageInfo {
  app: string;
  name: string;
  version: string;
  buildTool: "mix" | "rebar3" | "make";
  requirements: { app: string; optional: boolean }[];
}

export interface MixBaselineResult {
  coldSeconds: number;
  noopSeconds: number[];
  noopMedianSeconds: number;
  // .beam and .app files Mix wrote for the dependencies (under _build/prod/lib/*/ebin).
  compiledFiles: number;
  beams: number;
  addedTopLevelDeps: string[];
  compileOrder: string[];
  phases: string[][];
  projectDir: string;
  commands: string[];
}

export interface RunResult {
  code: number | null;
  seconds: number; // wall clock, spawn to exit
  output: string; // stdout and stderr, interleaved as they arrived
}

// Runs a command, capturing its output. Only wall-clock time is measured: the CPU time of
// what Mix spawns (make, rebar3, erlc) cannot be collected, because the Erlang VM starts
// external programs through a helper process that nobody waits for when the VM halts.
export function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => chunks.push(d));
    child.stderr.on("data", (d: Buffer) => chunks.push(d));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, seconds: (performance.now() - start) / 1000, output: Buffer.concat(chunks).toString("utf8") }));
  });
}

// The caller's environment without anything that changes what Mix, Hex, rebar3 or the
// Erlang VM do.
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(MIX_|HEX_|REBAR|ERL_|ELIXIR_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

async function which(cmd: string): Promise<string> {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = join(dir, cmd);
    if (await stat(p).then((s) => s.isFile(), () => false)) return p;
  }
  throw new Error(`${cmd} is not on PATH`);
}

function infoOf(metadata: HexMetadata, files: string[]): PackageInfo {
  // Mix infers the manager from the files in deps/APP (mix.exs, then rebar files, then Makefile).
  const buildTool = files.includes("mix.exs")
    ? "mix"
    : files.some((f) => /^(rebar|rebar\.config|rebar\.config\.script|rebar\.lock)$/.test(f))
      ? "rebar3"
      : "make";
  return {
    app: metadata.app,
    name: metadata.name,
    version: metadata.version,
    buildTool,
    requirements: metadata.requirements.map((r) => ({ app: r.app, optional: r.optional })),
  };
}

// Inserts `{:app, ">= 0.0.0"}` entries at the top of the list that `defp deps do` returns.
export function addDepsToMixExs(text: string, apps: string[], file: string): string {
  if (apps.length === 0) return text;
  const m = /(defp? deps(?:\(\))? do\s*\[)/.exec(text);
  if (m === null) throw new Error(`${file}: no "defp deps do [" to add ${apps.join(", ")} to`);
  const entries = apps.map((a) => `\n      {:${a}, ">= 0.0.0"},`).join("");
  return text.slice(0, m.index + m[0].length) + entries + text.slice(m.index + m[0].length);
}

const ORDER_MARK = "BEAMIX-BENCH-ORDER";

// Mix's dependency list in the order `mix deps.compile` compiles it.
async function mixCompileOrder(projectDir: string, env: NodeJS.ProcessEnv, log: string): Promise<string[]> {
  const expr = `IO.puts(["${ORDER_MARK} " | Enum.map_join(Mix.Dep.load_and_cache(), " ", &Atom.to_string(&1.app))])`;
  const res = await run("elixir", ["-r", HEX_SCM_STANDIN, "-S", "mix", "run", "--no-compile", "--no-deps-check", "--no-start", "-e", expr], projectDir, env);
  await writeFile(log, res.output);
  const line = res.output.split("\n").find((l) => l.startsWith(`${ORDER_MARK} `));
  if (res.code !== 0 || line === undefined) throw new Error(`cannot read Mix's dependency order in ${projectDir}:\n${res.output.slice(-4000)}`);
  return line.slice(ORDER_MARK.length + 1).split(" ").filter((a) => a !== "");
}

// Splits Mix's compile order into invocations of `mix deps.compile NAMES` such that every
// package's dependencies are compiled in an earlier invocation or earlier in its own.
export function compilePhases(order: string[], apps: PackageInfo[]): string[][] {
  const byApp = new Map(apps.map((a) => [a.app, a]));
  const needs = (app: string) => (byApp.get(app)?.requirements ?? []).map((r) => r.app).filter((r) => byApp.has(r) && order.includes(r));
  const done = new Set<string>();
  const phases: string[][] = [];
  let remaining = [...order];
  while (remaining.length > 0) {
    const phase: string[] = [];
    const placed = new Set<string>();
    for (const app of remaining) {
      if (needs(app).every((r) => done.has(r) || placed.has(r))) {
        phase.push(app);
        placed.add(app);
      }
    }
    if (phase.length === 0) throw new Error(`dependency cycle among ${remaining.join(", ")}`);
    phase.forEach((a) => done.add(a));
    remaining = remaining.filter((a) => !placed.has(a));
    phases.push(phase);
  }
  return phases;
}

export async function prepareMixProject(input: MixProjectInput): Promise<PreparedMixProject> {
  const work = resolve(input.workDir);
  const projectDir = join(work, basename(resolve(input.consumerDir)));
  const logDir = join(work, "logs");
  const mixHome = join(work, "mix_home");
  for (const d of [logDir, mixHome, join(work, "home"), join(work, "hex_home"), join(work, "rebar_cache")]) await mkdir(d, { recursive: true });
  const env = cleanEnv({
    HOME: join(work, "home"),
    MIX_HOME: mixHome,
    MIX_ENV: "prod",
    HEX_HOME: join(work, "hex_home"),
    HEX_OFFLINE: "1",
    REBAR_CACHE_DIR: join(work, "rebar_cache"),
  });

  const rebar = await run("mix", ["local.rebar", "rebar3", await which("rebar3"), "--force"], work, env);
  if (rebar.code !== 0) throw new Error(`mix local.rebar failed:\n${rebar.output}`);

  await cp(input.consumerDir, projectDir, {
    recursive: true,
    filter: (src) => !["_build", "deps", "mix.lock"].includes(basename(src)) || src === input.consumerDir,
  });

  const apps: PackageInfo[] = [];
  for (const dir of input.packageDirs) {
    const packed = await packDirectory(dir);
    const dest = join(projectDir, "deps", packed.metadata.app);
    const unpacked = await unpackTarball(packed.tarball, dest);
    const info = infoOf(packed.metadata, unpacked.files);
    if (info.buildTool === "make") {
      for (const f of await readdir(join(dest, "ebin")).catch(() => [] as string[])) {
        if (f.endsWith(".app")) await rm(join(dest, "ebin", f));
      }
    }
    apps.push(info);
  }

  // Add what Mix does not see until it sees everything (a make package added at the top
  // level can itself need another one).
  const added: string[] = [];
  let order: string[];
  for (let round = 1; ; round++) {
    order = await mixCompileOrder(projectDir, env, join(logDir, `mix-order-${round}.log`));
    const missing = apps.map((a) => a.app).filter((a) => !order.includes(a));
    if (missing.length === 0) break;
    if (round > apps.length) throw new Error(`Mix does not see ${missing.join(", ")} as dependencies of ${projectDir}`);
    const mixExs = join(projectDir, "mix.exs");
    await writeFile(mixExs, addDepsToMixExs(await readFile(mixExs, "utf8"), missing, mixExs));
    added.push(...missing);
  }
  const phases = compilePhases(order, apps);
  return { projectDir, env, apps, addedTopLevelDeps: added, compileOrder: order, phases: phases.length === 1 ? [] : phases, logDir };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function countCompiled(projectDir: string, apps: string[]): Promise<{ files: number; beams: number }> {
  let files = 0;
  let beams = 0;
  for (const app of apps) {
    const ebin = join(projectDir, "_build", "prod", "lib", app, "ebin");
    const names = await readdir(ebin).catch(() => null);
    if (names === null || !names.includes(`${app}.app`)) throw new Error(`Mix did not build ${app}: no ${ebin}/${app}.app`);
    for (const n of names) {
      if (n.endsWith(".beam")) beams++;
      if (n.endsWith(".beam") || n.endsWith(".app")) files++;
    }
  }
  return { files, beams };
}

// Cold `mix deps.compile` of a prepared project (in phases when needed, times summed);
// throws with Mix's output if it fails.
export async function measureMixDepsCompile(p: PreparedMixProject): Promise<number> {
  let seconds = 0;
  const invocations = p.phases.length === 0 ? [[]] : p.phases;
  for (const [i, names] of invocations.entries()) {
    const res = await run("elixir", ["-r", HEX_SCM_STANDIN, "-S", "mix", "deps.compile", ...names], p.projectDir, p.env);
    const log = join(p.logDir, `mix-deps-compile-${i + 1}.log`);
    await writeFile(log, res.output);
    if (res.code !== 0) throw new Error(`mix deps.compile failed in ${p.projectDir} (log: ${log}):\n${res.output.slice(-4000)}`);
    seconds += res.seconds;
  }
  return seconds;
}

// `mix compile` of the project, `runs` times after one untimed run that compiles the
// project's own code.
export async function measureMixNoopCompile(p: PreparedMixProject, runs: number): Promise<number[]> {
  const compile = () => run("elixir", ["-r", HEX_SCM_STANDIN, "-S", "mix", "compile"], p.projectDir, p.env);
  const first = await compile();
  await writeFile(join(p.logDir, "mix-compile-first.log"), first.output);
  if (first.code !== 0) throw new Error(`mix compile failed in ${p.projectDir}:\n${first.output.slice(-4000)}`);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const res = await compile();
    await writeFile(join(p.logDir, `mix-compile-noop-${i + 1}.log`), res.output);
    if (res.code !== 0) throw new Error(`no-op mix compile failed in ${p.projectDir}:\n${res.output.slice(-4000)}`);
    times.push(res.seconds);
  }
  return times;
}

export async function mixBaseline(input: MixProjectInput, opts: { noopRuns?: number } = {}): Promise<MixBaselineResult> {
  const p = await prepareMixProject(input);
  const cold = await measureMixDepsCompile(p);
  const { files, beams } = await countCompiled(p.projectDir, p.apps.map((a) => a.app));
  const noop = await measureMixNoopCompile(p, opts.noopRuns ?? 3);
  const mix = "MIX_ENV=prod elixir -r priv/elixir/hex_scm_standin.exs -S mix";
  return {
    coldSeconds: cold,
    noopSeconds: noop,
    noopMedianSeconds: median(noop),
    compiledFiles: files,
    beams,
    addedTopLevelDeps: p.addedTopLevelDeps,
    compileOrder: p.compileOrder,
    phases: p.phases,
    projectDir: p.projectDir,
    commands: [
      ...(p.phases.length === 0 ? [`${mix} deps.compile`] : p.phases.map((names) => `${mix} deps.compile ${names.join(" ")}`)),
      `${mix} compile`,
    ],
  };
}
