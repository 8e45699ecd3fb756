// Builds one package into a staging directory: copies its source into a fresh build directory,
// runs its phases (see phases.ts) inside the sandbox with exactly the environment of
// environment.ts, copies what the install phase left in out/ to the staging directory and
// validates it. The caller turns the staging directory into a store item.
//
// Reproducibility: the build sees its directory at /build, the package at /build/source and
// every input at /inputs/<app>-<version>, whatever the host paths; compilers run with
// ERL_COMPILER_OPTIONS=deterministic. Outputs are plain files with normal modes, so a rebuild
// anywhere gives the same bytes.
import { createHash } from "node:crypto";
import { StringDecoder } from "node:string_decoder";
import { copyFile, cp, mkdir, mkdtemp, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { CompileConfig } from "../derivation/config.ts";
import type { Derivation } from "../derivation/derivation.ts";
import { BeamixError, errorMessage } from "../errors.ts";
import { sandboxRunner, type Bind, type Runner } from "../sandbox/bwrap.ts";
import { describeLimits, withDefaults, type SandboxLimits } from "../sandbox/limits.ts";
import { UNSANDBOXED_WARNING, unsandboxedRunner } from "../sandbox/unsandboxed.ts";
import { removeTree } from "../store/perms.ts";
import { describeToolchain, type Toolchain } from "../toolchain/detect.ts";
import { CONFIG_EXS_TEXT, CONFIG_TERMS_FILE, compileConfigTermsText } from "./compile-config.ts";
import { buildEnvironment, environmentFileText, shellQuote } from "./environment.ts";
import { appLibDir } from "../store/item-layout.ts";
import { buildLayout, SANDBOX_BUILD_INPUTS_DIR, SANDBOX_INPUTS_DIR, type BuildLayout } from "./layout.ts";
import { applyOverrides, PATCH_FILE, standardPhases, type Command, type Phase, type RecipeContext, type RecipeInput, type SystemRecipe } from "./phases.ts";
import { CONFIG_EXS_FILE, STANDIN_FILE } from "./recipes/mix.ts";
import { RECIPES } from "./recipes/registry.ts";
import { collectOutputTree, copySourceTree } from "./tree-copy.ts";
import { findEmbeddedPaths, validateInstalledApp } from "./validate.ts";

export interface BuildInput {
  name: string;
  app: string;
  version: string;
  storePath: string; // store item root: lib/erlang/lib/<app>-<version>/ holds ebin, priv, include
  direct: boolean;
  requires?: string[]; // a build input's: the applications of its own inputs
}

export interface BuildRequest {
  derivation: Derivation;
  drvHash: string;
  sourceDir: string; // unpacked package source; copied, never written
  inputs: BuildInput[]; // the whole input closure (transitive), direct ones flagged
  // Build-only inputs (rebar3 plugins) and their input closures: bound apart from the inputs,
  // never on ERL_LIBS; the recipe hands them to its build tool.
  buildInputs?: BuildInput[];
  compileConfig: CompileConfig; // merged: this package's effective config + its input closure's
  toolchain: Toolchain;
  outDir: string; // existing empty staging directory; gets lib/erlang/lib/<app>-<version>/
  workDir: string; // host scratch directory; the build directory is made inside it
  readOnlyDirs: string[]; // bound read-only at the same path (the input items); their paths must not reach outputs
  sandbox: boolean; // false: run without bwrap (the log says what is lost)
  timeoutMs: number; // for the whole build
  limits?: Partial<SandboxLimits>; // of every command (memory, processes, disk); the rest default
  log: (chunk: string) => void; // phase banners and tool output
  keepFailed?: boolean; // on failure keep the build directory, with an environment-variables file
  keepRoot?: string; // where kept build directories go (default: the OS temporary directory)
  signal?: AbortSignal;
  patchDir?: string; // where the definition's patch `file`s are (relative paths), usually the definition file's directory
  // A precompiled NIF's verified archive (src/native/precompiled.ts): its directory is bound
  // read-only at PRECOMPILED_DIR and named to the package's Mix code by envVar.
  precompiledArchives?: { dir: string; envVar: string };
}

const PRECOMPILED_DIR = "/beamix-precompiled";

// What the user may set of a build's limits: the sandbox's, and how much of its log is kept
// (see build-log.ts). Unset ones take their defaults.
export type BuildLimits = Partial<SandboxLimits> & { logBytes?: number };

export type BuildResult =
  | { ok: true; durationMs: number }
  // failure: one line naming the phase, the package and the reason. The caller deletes outDir.
  | { ok: false; failure: string; keptDir?: string };

const STANDIN_SOURCE = fileURLToPath(new URL("../../priv/elixir/hex_scm_standin.exs", import.meta.url));

const UNSANDBOXED_NOTE = `beamix: ${UNSANDBOXED_WARNING}; inputs are used in place in the store\n`;

class PhaseFailure extends Error {
  readonly phase: string;
  constructor(phase: string, reason: string) {
    super(reason);
    this.phase = phase;
  }
}

// The line of a failed command's output most likely to say why: Elixir's "ERROR!" report, else
// the first exception (the root cause), else the first compiler error (erlc's or a C
// compiler's `FILE:LINE[:COL]: message`, warnings and notes aside: a missing include comes
// before the errors it causes), else rebar3's own last complaint (a `===>` line saying what
// failed, not its warnings that it goes on after, nor "Hook for compile failed!" when the
// hook said why), else the last line mentioning an error (make's own "*** Error" summary
// aside), else rebar3's hook summary, else the last line.
// (Elixir's stack and warning locations, `lib/a.ex:2: (module)` or `lib/a.ex:9: A.f/1`, are not.)
const COMPILER_ERROR = /^[^\s:][^:]*:\d+(:\d+)?: (?!(warning|note|Warning|in expansion of macro)\b|\(|[A-Z][\w.]*\.[^\s/]+\/\d)/;
const REBAR3_WARNING = /^===> (Errors loading plugin|Failed to update package|Plugin \S+ not available|Skipping )/;
const REBAR3_FAILURE = /^===> .*(fail|error|unable|not found|could not|missing|undefined)/i;
const REBAR3_HOOK_SUMMARY = /^===> Hook for \S+ failed/;

export function reasonLine(output: string): string {
  const lines = output
    .split("\n")
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, "").trim())
    .filter((l) => l !== "" && !l.startsWith("beamix: build timed out"));
  const rebar3 = (l: string) => REBAR3_FAILURE.test(l) && !REBAR3_WARNING.test(l) && !REBAR3_HOOK_SUMMARY.test(l);
  const line =
    lines.findLast((l) => l.startsWith("ERROR!")) ??
    lines.find((l) => l.startsWith("** (")) ??
    lines.find((l) => COMPILER_ERROR.test(l)) ??
    lines.findLast(rebar3)?.replace(/^===> /, "rebar3: ") ??
    lines.findLast((l) => /\berror\b/i.test(l) && !/^g?make(\[\d+\])?: \*\*\*/.test(l) && !l.startsWith("===> ")) ??
    lines.findLast((l) => REBAR3_HOOK_SUMMARY.test(l))?.replace(/^===> /, "rebar3: ") ??
    lines.at(-1) ??
    "";
  return line.length > 240 ? `${line.slice(0, 237)}...` : line;
}

// How the log shows a command: as a shell line, a shell script as a here-document.
function commandText(c: Command): string {
  const env = c.env ? Object.entries(c.env).map(([k, v]) => `${k}=${shellQuote(v)} `).join("") : "";
  const [a0, a1, a2, script] = c.argv;
  if (c.argv.length === 4 && a0 === "/bin/sh" && a1 === "-e" && a2 === "-c") {
    return `$ cd ${shellQuote(c.cwd)} && ${env}/bin/sh -e <<'EOF'\n${script.replace(/\n?$/, "\n")}EOF\n`;
  }
  return `$ cd ${shellQuote(c.cwd)} && ${env}${c.argv.map(shellQuote).join(" ")}\n`;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

interface ResolvedInput extends BuildInput {
  hostLib: string; // <storePath>/lib/erlang/lib/<app>-<version>
  libDir: string; // the same, as the build sees it
}

async function resolveInputs(req: BuildRequest, given: readonly BuildInput[] = req.inputs, sandboxDir = SANDBOX_INPUTS_DIR): Promise<ResolvedInput[]> {
  const seen = new Map<string, string>();
  const out: ResolvedInput[] = [];
  for (const i of given) {
    const other = seen.get(i.app);
    if (other !== undefined) throw new PhaseFailure("setup", `inputs ${other} and ${i.name} ${i.version} both provide application ${i.app}`);
    seen.set(i.app, `${i.name} ${i.version}`);
    const hostLib = appLibDir(resolve(i.storePath), i.app, i.version);
    if (!(await isDir(join(hostLib, "ebin")))) throw new PhaseFailure("setup", `input ${i.name} ${i.version} has no ${hostLib}/ebin`);
    const libDir = req.sandbox ? `${sandboxDir}/${i.app}-${i.version}` : hostLib;
    out.push({ ...i, hostLib, libDir });
  }
  return out;
}

async function writeHelpers(req: BuildRequest, host: BuildLayout): Promise<void> {
  for (const d of [host.home, host.mixHome, host.hexHome, host.rebarCache, host.tmp, host.helpers, join(host.helpers, "patches")]) await mkdir(d, { recursive: true });
  await copyFile(STANDIN_SOURCE, join(host.helpers, STANDIN_FILE));
  await writeFile(join(host.helpers, CONFIG_EXS_FILE), CONFIG_EXS_TEXT);
  await writeFile(join(host.helpers, CONFIG_TERMS_FILE), compileConfigTermsText(req.compileConfig));
  const patches = req.derivation.definition.arguments.patches;
  for (const [i, p] of patches.entries()) {
    let bytes: Buffer;
    if (p.text !== undefined) bytes = Buffer.from(p.text, "utf8");
    else if (p.file !== undefined) {
      if (!isAbsolute(p.file) && req.patchDir === undefined) throw new PhaseFailure("unpack", `patch ${p.file} is relative and no patch directory was given`);
      const file = resolve(req.patchDir ?? "/", p.file);
      try {
        bytes = await readFile(file);
      } catch (err) {
        throw new PhaseFailure("unpack", `cannot read patch ${file}: ${errorMessage(err)}`);
      }
    } else throw new PhaseFailure("unpack", `patch ${i + 1} has neither text nor file`);
    const sha = createHash("sha256").update(bytes).digest("hex");
    if (sha !== p.sha256) throw new PhaseFailure("unpack", `patch ${p.file ?? i + 1} has SHA-256 ${sha}, the definition says ${p.sha256}`);
    await writeFile(join(host.helpers, PATCH_FILE(i)), bytes);
  }
}

// Paths of this host whose appearance in an output means the output depends on where it was built.
async function hostPaths(req: BuildRequest): Promise<string[]> {
  const paths = [req.workDir, ...[...req.inputs, ...(req.buildInputs ?? [])].map((i) => i.storePath), ...req.readOnlyDirs];
  const out = new Set<string>();
  for (const p of paths) {
    out.add(resolve(p));
    try {
      out.add(await realpath(p));
    } catch {
      // gone: its resolved form is enough
    }
  }
  return [...out];
}

// The validate phase: the installed .app (see validate.ts), and no host path in any output.
// Without a sandbox the build ran at its host path, so finding it is expected: a warning.
async function validatePhase(req: BuildRequest, inputs: readonly ResolvedInput[], log: (s: string) => void): Promise<void> {
  const def = req.derivation.definition;
  const problems = await validateInstalledApp({
    libDir: appLibDir(req.outDir, def.app, def.version),
    app: def.app,
    version: def.version,
    inputApps: inputs.map((i) => i.app),
    toolchain: req.toolchain,
  });
  const hits = await findEmbeddedPaths(req.outDir, await hostPaths(req));
  const files = [...new Set(hits.map((h) => h.file))];
  const leaks = files.map((f) => `${f} (${hits.filter((h) => h.file === f).map((h) => h.path).join(", ")})`).join("; ");
  if (leaks && req.sandbox) problems.push(`outputs embed host paths: ${leaks}`);
  else if (leaks) log(`beamix: warning: outputs embed host paths (expected without a sandbox; not reproducible): ${leaks}\n`);
  if (problems.length > 0) throw new PhaseFailure("validate", problems.join("; "));
}

// Moves a failed build directory out of the work directory (which the caller may delete) to a
// fresh directory under `root`, with the build's environment beside the sources.
async function keepBuildDir(buildDir: string, root: string, label: string, env: Record<string, string>): Promise<string> {
  // The build may have left anything at that name (a symlink to a host file): replace, never follow.
  const envFile = join(buildDir, "environment-variables");
  await rm(envFile, { recursive: true, force: true });
  await writeFile(envFile, environmentFileText(env), { flag: "wx", mode: 0o644 });
  await mkdir(root, { recursive: true });
  const kept = await mkdtemp(join(root, `beamix-failed-${label.replace(/[^A-Za-z0-9._-]+/g, "-")}-`));
  try {
    await rename(buildDir, kept); // replaces the empty directory
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    // Another file system: copy without following any link, then remove the original.
    await cp(buildDir, kept, { recursive: true, verbatimSymlinks: true, force: false, errorOnExist: true });
    await removeTree(buildDir);
  }
  return kept;
}

export async function buildPackage(req: BuildRequest): Promise<BuildResult> {
  const start = performance.now();
  const deadline = start + req.timeoutMs;
  const def = req.derivation.definition;
  const label = `${def.name} ${def.version}`;
  const runner: Runner = req.sandbox ? sandboxRunner : unsandboxedRunner;
  const limits = withDefaults(req.limits);
  const buildDir = join(resolve(req.workDir), "build");
  const host = buildLayout(buildDir, def.app, def.version);
  const layout = buildLayout(runner.buildPath(buildDir), def.app, def.version);
  let env: Record<string, string> = {};
  let phaseName = "setup";
  let created = false;

  const log = (s: string) => req.log(s);
  try {
    if (req.signal?.aborted) throw new PhaseFailure("setup", "build cancelled");
    const inputs = await resolveInputs(req);
    const buildInputs = await resolveInputs(req, req.buildInputs ?? [], SANDBOX_BUILD_INPUTS_DIR);
    const recipeInputs: RecipeInput[] = inputs.map((i) => ({ app: i.app, version: i.version, libDir: i.libDir, direct: i.direct }));
    const erlLibs = req.sandbox ? (inputs.length > 0 ? [SANDBOX_INPUTS_DIR] : []) : [...new Set(inputs.map((i) => dirname(i.hostLib)))];
    env = buildEnvironment({ layout, toolchain: req.toolchain, erlLibs, mixEnv: def.arguments.mixEnv, declared: req.derivation.env });
    const binds: (string | Bind)[] = [...req.toolchain.readOnlyBinds, ...req.readOnlyDirs.map((d) => resolve(d))];
    if (req.precompiledArchives) {
      const { dir, envVar } = req.precompiledArchives;
      if (req.sandbox) binds.push({ source: resolve(dir), target: PRECOMPILED_DIR });
      env[envVar] = req.sandbox ? PRECOMPILED_DIR : resolve(dir);
    }
    if (req.sandbox) for (const i of [...inputs, ...buildInputs]) binds.push({ source: i.hostLib, target: i.libDir });

    let phases: Phase[];
    try {
      const ctx: RecipeContext = { app: def.app, version: def.version, mixEnv: def.arguments.mixEnv, check: def.arguments.check, layout, inputs: recipeInputs, buildInputs: buildInputs.map((i) => ({ app: i.app, version: i.version, libDir: i.libDir, direct: i.direct, requires: i.requires ?? [] })), toolchain: req.toolchain };
      phases = applyOverrides(standardPhases(RECIPES[req.derivation.definition.buildSystem](ctx), def.arguments.patches, def.arguments.check, layout), def.arguments.phases, `definition of ${label}`);
    } catch (err) {
      throw new PhaseFailure("setup", errorMessage(err));
    }

    log(`beamix: building ${label} (application ${def.app}, ${def.buildSystem}), derivation ${req.drvHash}\n`);
    log(`beamix: toolchain ${describeToolchain(req.toolchain)}\n`);
    log(req.sandbox ? `beamix: sandboxed (bwrap): build directory at ${layout.root}, inputs at ${SANDBOX_INPUTS_DIR}, no network\n` : UNSANDBOXED_NOTE);
    log(`beamix: limits: ${describeLimits(limits, req.sandbox ? ["memory", "processes", "disk"] : ["memory", "disk"])}${req.sandbox ? "" : " (processes are not limited without a sandbox)"}\n`);
    log(`beamix: inputs: ${inputs.length === 0 ? "none" : inputs.map((i) => `${i.app}-${i.version}${i.direct ? "" : " (transitive)"}`).join(", ")}\n`);
    if (buildInputs.length > 0) log(`beamix: build inputs: ${buildInputs.map((i) => `${i.app}-${i.version}${i.direct ? "" : " (transitive)"}`).join(", ")}\n`);
    log(`beamix: phases: ${phases.map((p) => p.name).join(", ")}\n`);

    await removeTree(buildDir); // a leftover of an earlier attempt
    await mkdir(buildDir, { recursive: true });
    created = true;

    // The limit is for the whole build; each command gets what is left of it.
    const timedOut = () => `build timed out after ${Math.round(req.timeoutMs / 100) / 10} s`;
    const runCommand = async (c: Command): Promise<void> => {
      const remaining = Math.floor(deadline - performance.now());
      if (remaining <= 0) throw new PhaseFailure(phaseName, timedOut());
      if (req.signal?.aborted) throw new PhaseFailure(phaseName, "build cancelled");
      log(commandText(c));
      const decoder = new StringDecoder("utf8");
      let tail = "";
      const r = await runner.run({
        command: c.argv[0],
        args: c.argv.slice(1),
        buildDir,
        cwd: c.cwd,
        readOnlyBinds: binds,
        env: { ...env, ...c.env },
        timeoutMs: remaining,
        network: false,
        signal: req.signal,
        limits,
        logSink: {
          write: (chunk: Buffer) => {
            const s = decoder.write(chunk);
            tail = (tail + s).slice(-16000);
            log(s);
          },
        },
      });
      const rest = decoder.end();
      if (rest) log(rest);
      if (r.timedOut) throw new PhaseFailure(phaseName, timedOut());
      if (r.failure) {
        const why = reasonLine(tail);
        throw new PhaseFailure(phaseName, why && !r.aborted ? `${r.failure}: ${why}` : r.failure);
      }
    };

    let collected = false;
    const collect = async () => {
      collected = true;
      try {
        const t = await collectOutputTree(host.out, req.outDir);
        log(`beamix: installed ${t.files} files, ${t.bytes} bytes\n`);
      } catch (err) {
        throw new PhaseFailure(phaseName, errorMessage(err));
      }
    };

    // Wall time of each phase that ran, for the summary line at the end of the log.
    const timings: { name: string; ms: number }[] = [];
    for (const phase of phases) {
      phaseName = phase.name;
      if (phase.kind === "sandbox" && phase.skipped) {
        log(`\n==> ${phase.name}: skipped (${phase.skipped})\n`);
        continue;
      }
      log(`\n==> ${phase.name}\n`);
      const phaseStart = performance.now();
      if (phase.kind === "sandbox") {
        for (const c of phase.commands) await runCommand(c);
      } else if (phase.name === "unpack") {
        try {
          await copySourceTree(req.sourceDir, host.source);
        } catch (err) {
          throw new PhaseFailure("unpack", errorMessage(err));
        }
        await writeHelpers(req, host);
      } else {
        await collect();
        await validatePhase(req, inputs, log);
        log("beamix: validated the installed application\n");
      }
      timings.push({ name: phase.name, ms: performance.now() - phaseStart });
    }
    if (!collected) await collect();
    await removeTree(buildDir);
    const durationMs = performance.now() - start;
    log(`\nbeamix: built ${label} in ${(durationMs / 1000).toFixed(1)} s\n`);
    const rest = durationMs - timings.reduce((sum, t) => sum + t.ms, 0);
    const times = [...timings, { name: "set-up and clean-up", ms: rest }].map((t) => `${t.name} ${(t.ms / 1000).toFixed(3)} s`);
    log(`beamix: phase times: ${times.join(", ")}\n`);
    return { ok: true, durationMs };
  } catch (err) {
    const phase = err instanceof PhaseFailure ? err.phase : phaseName;
    const reason = err instanceof PhaseFailure || err instanceof BeamixError ? err.message : `internal error: ${errorMessage(err)}`;
    const failure = `${phase} phase of ${label} failed: ${reason}`.replace(/\s*\n\s*/g, " ");
    log(`\nbeamix: ${failure}\n`);
    let keptDir: string | undefined;
    try {
      if (!created) {
        // nothing of this attempt to keep or remove
      } else if (req.keepFailed) {
        keptDir = await keepBuildDir(buildDir, req.keepRoot ?? tmpdir(), `${def.name}-${def.version}`, env);
        log(`beamix: kept the build directory at ${keptDir}\n`);
      } else await removeTree(buildDir);
    } catch (cleanupErr) {
      log(`beamix: could not ${req.keepFailed ? "keep" : "remove"} ${buildDir}: ${errorMessage(cleanupErr)}\n`);
    }
    return keptDir ? { ok: false, failure, keptDir } : { ok: false, failure };
  }
}
