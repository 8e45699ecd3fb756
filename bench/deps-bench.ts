// The `beamix deps` benchmark: how long a Mix project's dependency step takes on a machine that
// never compiled them, with Mix alone against beamix with a warm binary cache.
//
// The project is the fixture consumer `webapp` (test/fixtures/consumers/webapp) by default, or
// any consumer and package directories (DepsCorpus: `--corpus generated` uses the Phoenix-sized
// closure of bench/generate-closure.ts), with a mix.lock resolved against a signed registry of
// those packages on loopback, MIX_ENV=prod. Both sides start from a fresh copy of it, with the same
// mix.exs: the dependencies only make packages need (which Mix never reads) are declared at the
// top level, as prepareMixProject works out.
//
//   Mix:    deps/ holds the locked packages unpacked, with the .hex and .fetch files `mix deps.get`
//           leaves (bench/mix-baseline.ts prepareMixProject, then those two files), then
//             `mix deps.compile`   timed: mixDepsCompileSeconds
//             `mix compile`        timed: mixCompileAfterMixSeconds (compiles the project)
//   beamix: a loopback cache (startSubstituteServer serving a cache directory) was filled by
//           another store that ran `beamix deps --push` (the items and Mix's answers); then,
//           with a FRESH store and fresh beamix cache and config directories (only the CLI's
//           compile cache is warm, as on any machine that ran beamix once), in a fresh copy of
//           the project:
//             `beamix deps --substituters http://127.0.0.1:… --trusted-key …`
//                                  timed: beamixDepsSeconds (every package substituted, checked;
//                                  the median of RUNS such fresh machines, taking turns below)
//             `mix compile`        timed: mixCompileAfterBeamixSeconds (compiles the project;
//                                  checked: no dependency compiled)
//
// Then the warm path, each figure the median of RUNS runs taking turns: the tarball restore a CI
// cache keyed on mix.lock would do of what beamix wrote (`tar --zstd -x` of deps/ and
// _build/ENV/lib), `beamix deps` into a fresh checkout of the project with the store complete
// (tarRestoreSeconds against warmFreshCheckoutSeconds), `node -e 0` (the floor of anything run by
// Node), and `beamix deps` again when nothing changed.
//
// Mix runs with priv/elixir/hex_scm_lock_standin.exs on both sides: it checks dependencies as
// Hex does (fetchable, .hex against mix.lock), so after deps.compile (or beamix deps) `mix
// compile` compiles only the project, as with the real Hex. (The build stand-in would make Mix
// treat every dependency as a path dependency and look at each again on every `mix compile`.)
// `mix deps.compile` runs in the phases prepareMixProject works out when Mix's own order would
// put a make package before what it needs; the phases' times are summed.
//
// `node bench/deps-bench.ts [--corpus fixtures|generated] [--packed] [--keep]` runs it once and
// prints the figures as JSON; --packed takes the short figures with the installed npm package too.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { HexRepo } from "../src/hex/registry/client.ts";
import { formatMixLock, type HexLockEntry, type MixLock } from "../src/mix/lock.ts";
import { hexManifest } from "../src/deps/mix-files.ts";
import { lockForRequirements } from "../src/mix/lock-from-resolution.ts";
import { startSubstituteServer } from "../src/substitute/server/serve.ts";
import { writeKeyPair } from "../src/signing/keys.ts";
import { fixturePackageDirs, fixturesDir, makeRegistry, type FixtureRegistry } from "../test/support/fixture-registry.ts";
import { startStaticServer } from "../test/support/static-server.ts";
import { beamixCli, checked, median, type BeamixForm } from "./beamix-build.ts";
import { addDepsToMixExs, cleanEnv, prepareMixProject, run, type RunResult } from "./mix-baseline.ts";
import { DEFAULT_SCALE, DEFAULT_SEED, generateClosure } from "./generate-closure.ts";
import { packedForm } from "./startup.ts";

export const LOCK_STANDIN = fileURLToPath(new URL("../priv/elixir/hex_scm_lock_standin.exs", import.meta.url));
const MIX_ENV = "prod";

// webapp's top-level dependencies (its mix.exs), as `mix deps.get` resolves them.
export const WEBAPP_ROOTS = [
  { name: "trellis", requirement: "~> 0.9" },
  { name: "wirecodec", requirement: "~> 1.0" },
  { name: "sockadapt", requirement: "~> 0.1" },
  { name: "wireserve", requirement: "~> 1.0" },
  { name: "jsonish", requirement: "~> 0.3" },
  { name: "nifsum", requirement: "~> 0.2" },
  { name: "confetti", requirement: "~> 0.3", app: "confetti_app" }, // {:confetti_app, "~> 0.3", hex: :confetti}
];

// The mix.lock `mix deps.get` writes for these requirements.
export const lockFor = lockForRequirements;

// A copy of the webapp consumer at `dir`, with a mix.lock. It also declares wirecodec: Mix never
// reads the dependencies of a make-built dependency (so wireserve's wirecodec would be compiled
// but never put on the code path), with Hex as without it.
export async function webappProject(dir: string, repo: HexRepo): Promise<string> {
  await cp(join(fixturesDir, "consumers", "webapp"), dir, { recursive: true });
  const mixExs = join(dir, "mix.exs");
  const text = await readFile(mixExs, "utf8");
  if (!text.includes(`{:trellis, "~> 0.9"},`)) throw new Error(`${mixExs}: no trellis dependency to add wirecodec after`);
  await writeFile(mixExs, text.replace(`{:trellis, "~> 0.9"},`, `{:trellis, "~> 0.9"},\n      {:wirecodec, "~> 1.0"},`));
  await writeFile(join(dir, "mix.lock"), formatMixLock(await lockFor(repo, WEBAPP_ROOTS)));
  return dir;
}

export interface DepsBenchResult {
  mixDepsCompileSeconds: number;
  mixCompileAfterMixSeconds: number;
  beamixDepsSeconds: number; // from a loopback cache into an empty store (median of RUNS)
  mixCompileAfterBeamixSeconds: number;
  // The peer a team would pick instead: one tar + zstd of deps/ and _build/ENV/lib, restored.
  tarRestoreSeconds: number; // median of RUNS
  warmFreshCheckoutSeconds: number; // beamix deps into a fresh checkout, the store complete (median of RUNS)
  // The empty store again without the project's restore record from the cache (BEAMIX_REPLAY=off):
  // the full path, as for a project state no machine pushed (median of RUNS).
  emptyStoreFullPathSeconds: number;
  noChangeSeconds: number; // beamix deps again when nothing changed (median of RUNS)
  nodeStartSeconds: number; // node -e 0: the floor of anything written for Node (median of RUNS)
  // The same short figures with the installed npm package (its esbuild bundle), when measured.
  packed?: { warmFreshCheckoutSeconds: number; emptyStoreSeconds: number; noChangeSeconds: number };
}

const RUNS = 5;

// A consumer project and the package directories of a registry that holds its closure.
export interface DepsCorpus {
  consumerDir: string;
  app: string; // the consumer's OTP app
  packageDirs: string[]; // named NAME-VERSION
  roots: { name: string; requirement: string }[]; // its mix.exs dependencies
}

export async function fixtureWebappCorpus(): Promise<DepsCorpus> {
  return { consumerDir: join(fixturesDir, "consumers", "webapp"), app: "webapp", packageDirs: await fixturePackageDirs(), roots: WEBAPP_ROOTS };
}

function mixIn(dir: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return run("elixir", ["-r", LOCK_STANDIN, "-S", "mix", ...args], dir, env);
}

async function otpRelease(): Promise<string> {
  const r = await run("erl", ["-noshell", "-eval", "io:format(\"~s\", [erlang:system_info(otp_release)]), halt()."], tmpdir(), cleanEnv({}));
  if (r.code !== 0) throw new Error(`erl: ${r.output}`);
  return r.output.trim();
}

// Mix's side, in workDir (empty). Returns the times and the dependencies prepareMixProject had
// to declare in mix.exs (those only make packages need), for the beamix side to declare too.
async function mixSide(corpus: DepsCorpus, project: string, lock: MixLock, workDir: string): Promise<{ depsCompile: number; compile: number; added: string[] }> {
  const hex = [...lock.values()].filter((e): e is HexLockEntry => e.kind === "hex");
  const packageDirs = hex.map((e) => {
    const d = corpus.packageDirs.find((p) => basename(p) === `${e.package}-${e.version}`);
    if (d === undefined) throw new Error(`no package directory ${e.package}-${e.version}`);
    return d;
  });
  const p = await prepareMixProject({ consumerDir: project, packageDirs, workDir });
  // What `mix deps.get` leaves besides the package files: the lock, and Hex's .hex and .fetch.
  await cp(join(project, "mix.lock"), join(p.projectDir, "mix.lock"));
  const otp = await otpRelease();
  for (const e of hex) {
    await writeFile(join(p.projectDir, "deps", e.app, ".hex"), hexManifest(e, otp));
    await writeFile(join(p.projectDir, "deps", e.app, ".fetch"), "");
  }
  let depsCompile = 0;
  for (const [i, names] of (p.phases.length === 0 ? [[]] : p.phases).entries()) {
    const r = await mixIn(p.projectDir, ["deps.compile", ...names], p.env);
    await writeFile(join(p.logDir, `deps-compile-${i + 1}.log`), r.output);
    if (r.code !== 0) throw new Error(`mix deps.compile failed in ${p.projectDir}:\n${r.output.slice(-4000)}`);
    depsCompile += r.seconds;
  }
  const compile = await mixIn(p.projectDir, ["compile"], p.env);
  await writeFile(join(p.logDir, "compile.log"), compile.output);
  if (compile.code !== 0 || !new RegExp(`Generated ${corpus.app} app`).test(compile.output)) throw new Error(`mix compile failed in ${p.projectDir}:\n${compile.output.slice(-4000)}`);
  return { depsCompile, compile: compile.seconds, added: p.addedTopLevelDeps };
}

interface DepsJson {
  packages: { name: string; status: string }[];
  push?: { pushed: string[]; hints: string[] };
}

function depsJson(r: RunResult, what: string): DepsJson {
  checked(r, what);
  return JSON.parse(r.output.slice(r.output.indexOf("{"), r.output.lastIndexOf("}") + 1)) as DepsJson;
}

// `packed`: the installed package (bench/startup.ts packedForm), whose short figures are taken too.
export async function measureDeps(workDir: string, corpus?: DepsCorpus, packed?: BeamixForm): Promise<DepsBenchResult> {
  const c = corpus ?? (await fixtureWebappCorpus());
  await mkdir(workDir, { recursive: true });
  const registry: FixtureRegistry = await makeRegistry(join(workDir, "repo"), c.packageDirs);
  const hexServer = await startStaticServer({ root: registry.dir });
  try {
    const repo = new HexRepo({ name: "hexpm", url: hexServer.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(workDir, "lock-cache") });
    const template = join(workDir, "template", basename(c.consumerDir));
    await cp(c.consumerDir, template, { recursive: true });
    const lock = await lockFor(repo, c.roots);
    await writeFile(join(template, "mix.lock"), formatMixLock(lock));
    const repoArgs = ["--repo", hexServer.url, "--public-key", registry.publicKeyPath];

    // Mix alone. Then the template declares what the Mix side had to declare.
    const mix = await mixSide(c, template, lock, join(workDir, "mix"));
    const mixExs = join(template, "mix.exs");
    await writeFile(mixExs, addDepsToMixExs(await readFile(mixExs, "utf8"), mix.added, mixExs));
    const copy = async (where: string) => {
      const dir = join(workDir, where, basename(template));
      await cp(template, dir, { recursive: true });
      return dir;
    };

    // The CI machine: builds once and pushes to the cache directory.
    const keys = await writeKeyPair("bench-cache-1", join(workDir, "keys"));
    const cacheDir = join(workDir, "cache");
    const ci = join(workDir, "ci");
    const pushed = depsJson(
      await beamixCli(["deps", await copy("ci"), "--env", MIX_ENV, "--store", join(ci, "store"), ...repoArgs, "--no-substitutes", "--push", "--to", `file://${cacheDir}`, "--sign-with", keys.secretPath, "--json"], ci),
      "beamix deps --push",
    );
    if (pushed.push?.pushed.length !== lock.size) throw new Error(`beamix deps --push pushed ${pushed.push?.pushed.length} items, not ${lock.size}`);

    // A fresh machine with the cache on loopback.
    const server = await startSubstituteServer({ source: { kind: "cache", dir: cacheDir }, host: "127.0.0.1" });
    try {
      const fresh = join(workDir, "fresh");
      const project = await copy("fresh");
      checked(await beamixCli(["--version"], fresh), "beamix --version");
      const r = await beamixCli(["deps", project, "--env", MIX_ENV, "--store", join(fresh, "store"), ...repoArgs, "--substituters", server.url, "--trusted-key", keys.publicPath, "--json"], fresh);
      const json = depsJson(r, "beamix deps with substitutes");
      const notSubstituted = json.packages.filter((p) => p.status !== "substituted");
      if (notSubstituted.length > 0) throw new Error(`beamix deps did not substitute ${notSubstituted.map((p) => `${p.name} (${p.status})`).join(", ")}:\n${r.output.slice(-4000)}`);

      const home = join(fresh, "home");
      const env = cleanEnv({ HOME: home, MIX_HOME: join(home, "mix"), HEX_HOME: join(home, "hex"), HEX_OFFLINE: "1", MIX_ENV, LANG: "C.UTF-8" });
      await mkdir(home, { recursive: true });
      const compile = await mixIn(project, ["compile"], env);
      if (compile.code !== 0 || /==> /.test(compile.output) || !new RegExp(`Generated ${c.app} app`).test(compile.output)) {
        throw new Error(`mix compile after beamix deps failed or compiled a dependency:\n${compile.output.slice(-4000)}`);
      }
      // The tarball restore a CI cache keyed on mix.lock would do, of what beamix deps wrote.
      const tarball = join(workDir, "deps-cache.tar.zst");
      checked(await run("tar", ["--zstd", "-cf", tarball, "deps", join("_build", MIX_ENV, "lib")], project, cleanEnv({})), "tar --zstd -c");
      // The short figures are taken RUNS times, taking turns, and their medians compared: on a
      // shared machine one run says little. `node -e 0` is the floor of any command in Node.
      const tar: number[] = [];
      const node: number[] = [];
      // Each form of the command (the sources; the installed package, when given) takes its turn.
      const forms = [undefined, ...(packed ? [packed] : [])];
      const short = forms.map(() => ({ warm: [] as number[], empty: [] as number[], noChange: [] as number[], again: "" }));
      const fullPath: number[] = [];
      short[0].empty.push(r.seconds);
      const depsArgs = (dir: string, machine = fresh) => ["deps", dir, "--env", MIX_ENV, "--store", join(machine, "store"), ...repoArgs, "--substituters", server.url, "--trusted-key", keys.publicPath];
      for (let i = 0; i < RUNS; i++) {
        const restored = join(workDir, `restored-${i}`);
        await mkdir(restored, { recursive: true });
        tar.push(checked(await run("tar", ["--zstd", "-xf", tarball], restored, cleanEnv({})), "tar --zstd -x").seconds);
        for (const [f, form] of forms.entries()) {
          const cli = (args: string[], dir: string) => beamixCli(args, dir, {}, form);
          // A fresh checkout on the same machine (the store has everything).
          short[f].again = await copy(`fresh-checkout-${f}-${i}`);
          short[f].warm.push(checked(await cli(depsArgs(short[f].again), fresh), "beamix deps into a fresh checkout").seconds);
          // Another fresh machine: empty store and cache directory, the project's first run.
          if (short[f].empty.length <= i) {
            const machine = join(workDir, `fresh-machine-${f}-${i}`);
            const checkout = await copy(`fresh-machine-${f}-${i}`);
            checked(await cli(["--version"], machine), "beamix --version");
            short[f].empty.push(checked(await cli(depsArgs(checkout, machine), machine), "beamix deps into an empty store").seconds);
          }
        }
        // The same without the cache's record of the project: the full path.
        const machine = join(workDir, `fresh-machine-full-${i}`);
        const checkout = await copy(`fresh-machine-full-${i}`);
        checked(await beamixCli(["--version"], machine), "beamix --version");
        fullPath.push(checked(await beamixCli(depsArgs(checkout, machine), machine, { BEAMIX_REPLAY: "off" }), "beamix deps into an empty store, full path").seconds);
        node.push(checked(await run(process.execPath, ["-e", "0"], workDir, cleanEnv({})), "node -e 0").seconds);
      }
      // Then nothing changed in the last checkouts.
      for (let i = 0; i < RUNS; i++) {
        for (const [f, form] of forms.entries()) short[f].noChange.push(checked(await beamixCli(depsArgs(short[f].again), fresh, {}, form), "beamix deps, nothing changed").seconds);
      }
      const figures = (f: (typeof short)[number]) => ({ warmFreshCheckoutSeconds: median(f.warm), emptyStoreSeconds: median(f.empty), noChangeSeconds: median(f.noChange) });
      const source = figures(short[0]);
      return {
        mixDepsCompileSeconds: mix.depsCompile,
        mixCompileAfterMixSeconds: mix.compile,
        beamixDepsSeconds: source.emptyStoreSeconds,
        mixCompileAfterBeamixSeconds: compile.seconds,
        tarRestoreSeconds: median(tar),
        warmFreshCheckoutSeconds: source.warmFreshCheckoutSeconds,
        emptyStoreFullPathSeconds: median(fullPath),
        noChangeSeconds: source.noChangeSeconds,
        nodeStartSeconds: median(node),
        ...(packed ? { packed: figures(short[1]) } : {}),
      };
    } finally {
      await server.close();
    }
  } finally {
    await hexServer.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { keep: { type: "boolean", default: false }, corpus: { type: "string", default: "fixtures" }, packed: { type: "boolean", default: false } } });
  const work = await mkdtemp(join(tmpdir(), "beamix-deps-bench-"));
  try {
    let corpus: DepsCorpus | undefined;
    if (values.corpus === "generated") {
      const g = await generateClosure(join(work, "generated-closure"), { seed: DEFAULT_SEED, scale: DEFAULT_SCALE });
      corpus = { consumerDir: g.consumer.dir, app: g.consumer.name, packageDirs: g.packages.map((p) => p.dir), roots: g.consumer.deps.map((d) => ({ name: d.package, requirement: d.requirement })) };
    } else if (values.corpus !== "fixtures") throw new Error(`--corpus is fixtures or generated, not ${values.corpus}`);
    const r = await measureDeps(join(work, "run"), corpus, values.packed ? await packedForm(join(work, "packed")) : undefined);
    const mixTotal = r.mixDepsCompileSeconds + r.mixCompileAfterMixSeconds;
    const beamixTotal = r.beamixDepsSeconds + r.mixCompileAfterBeamixSeconds;
    process.stdout.write(
      JSON.stringify(
        { ...r, dependencyStepSpeedup: r.mixDepsCompileSeconds / r.beamixDepsSeconds, wholeSequenceSpeedup: mixTotal / beamixTotal },
        null,
        2,
      ) + "\n",
    );
  } finally {
    if (values.keep) process.stderr.write(`kept ${work}\n`);
    else await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.filename === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
