// One package's build, as the realize engine (and a check rebuild, and verify --repair) runs it:
// its source unpacked, its input closure and build-only inputs named, a precompiled NIF's
// archive fetched, then the sandboxed build (src/builder/) into a staging directory, its log
// kept in the store.
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { BeamixError } from "../errors.ts";
import { unpackTarball } from "../hex/unpack.ts";
import type { BuildInput, BuildLimits } from "../builder/build-package.ts";
import { BuildLog } from "../builder/build-log.ts";
import { makeScratchDir } from "../sandbox/scratch-dir.ts";
import { UNSANDBOXED_WARNING } from "../sandbox/unsandboxed.ts";
import { sandboxAvailable, sandboxUnavailableMessage } from "../sandbox/bwrap.ts";
import { mergeConfig, type CompileConfig } from "../derivation/config.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import type { Store } from "../store/store.ts";
import { precompiledForBuild } from "./precompiled-nif.ts";
import { buildInputClosure, inputClosure, type IdentifiedPackage, type Plan } from "./plan.ts";
import { warningsOnlyProgress, type Progress } from "./progress.ts";

export interface BuildOneOptions {
  store: Store;
  toolchain: Toolchain;
  keepFailed?: boolean;
  sandbox: boolean;
  timeoutMs: number;
  limits?: BuildLimits; // of each build (memory, processes, disk, log); unset ones default
  progress?: Progress;
  workRoot?: string; // where build directories are made (default: the system's temp dir)
}

// A build that ran and failed: the message names the phase and package; the log is in the store.
export class BuildFailure extends BeamixError {
  override name = "BuildFailure";
  readonly logPath: string;
  readonly keptDir?: string;
  constructor(message: string, logPath: string, keptDir?: string) {
    super(message);
    this.logPath = logPath;
    this.keptDir = keptDir;
  }
}

// An unsandboxed build is said on the terminal, once per run, not only in its log.
const warnedUnsandboxed = new WeakSet<BuildOneOptions>();

// Builds one package into `staging` (its inputs must be valid), as the given derivation. The log
// goes to the store, unless this is a check rebuild, whose log is only kept on failure, beside
// the build.
export async function buildOne(plan: Plan, p: IdentifiedPackage, staging: string, opts: BuildOneOptions, check = false): Promise<{ references: string[] }> {
  const { store } = opts;
  // Checked only when something is built, so a no-op run does not pay for starting bwrap.
  if (opts.sandbox) {
    const sandbox = await sandboxAvailable();
    if (!sandbox.available) throw new BeamixError(sandboxUnavailableMessage(sandbox.reason));
  } else if (!warnedUnsandboxed.has(opts)) {
    warnedUnsandboxed.add(opts);
    (opts.progress ?? warningsOnlyProgress()).event({ type: "warning", message: `beamix: warning: --no-sandbox: ${UNSANDBOXED_WARNING}` });
  }
  // Named after this process, so the next run removes it if this one is killed.
  const tmp = await makeScratchDir(opts.workRoot ?? tmpdir(), "build", p.name);
  // On disk as it comes, cut to the first and last part of the limit.
  const log = new BuildLog(join(tmp, "build.log"), opts.limits?.logBytes);
  try {
    const sourceDir = join(tmp, "source");
    const tarball = p.source.kind === "local" ? p.source.tarball : (await p.source.repo.tarball(p.name, p.version)).bytes;
    await unpackTarball(tarball, sourceDir, { file: `${p.name}-${p.version}.tar` });

    const closure = inputClosure(plan, p.name) as IdentifiedPackage[];
    const direct = new Set(p.deps);
    const inputs: BuildInput[] = closure.map((d) => ({ name: d.name, app: d.app, version: d.version, storePath: d.itemPath, direct: direct.has(d.name) }));
    // Build inputs (rebar3 plugins) with what they need; their input applications are named so
    // the build tool can load them without fetching anything.
    const buildClosure = buildInputClosure(plan, p.name) as IdentifiedPackage[];
    const buildInputs: BuildInput[] = buildClosure.map((d) => ({
      name: d.name,
      app: d.app,
      version: d.version,
      storePath: d.itemPath,
      direct: (p.buildDeps ?? []).includes(d.name),
      requires: d.deps.map((n) => plan.packages.get(n)!.app),
    }));
    // Inputs that recorded compile_env reads are validated by Mix against the loaded config, so
    // a build sees the effective config of its whole input closure as well as its own.
    let compileConfig: CompileConfig = {};
    for (const d of [...closure, p]) compileConfig = mergeConfig(compileConfig, d.derivation.compileConfig);
    // A precompiled NIF's archive is fetched now, outside the sandbox (precompiled-nif.ts).
    const precompiled = await precompiledForBuild(p.derivation.definition, sourceDir, opts.toolchain);
    if (precompiled.compileConfig) compileConfig = mergeConfig(compileConfig, precompiled.compileConfig);

    // The builder's code is loaded only when something is built (not on a no-op run).
    const { buildPackage } = await import("../builder/build-package.ts");
    const outcome = await buildPackage({
      derivation: p.derivation,
      drvHash: p.drvHash,
      sourceDir,
      inputs,
      ...(precompiled.archiveDir ? { precompiledArchives: precompiled.archiveDir } : {}),
      ...(buildInputs.length > 0 ? { buildInputs } : {}),
      compileConfig,
      toolchain: opts.toolchain,
      outDir: staging,
      workDir: join(tmp, "work"),
      // The input closure only, each item at its own path: not the store's database, logs or
      // other items.
      readOnlyDirs: [...closure, ...buildClosure].map((d) => d.itemPath),
      sandbox: opts.sandbox,
      timeoutMs: opts.timeoutMs,
      limits: opts.limits,
      log: (chunk) => log.write(chunk),
      keepFailed: opts.keepFailed,
    });
    const logPath = check ? join(staging, "..", `check-${p.drvHash}.log`) : await store.writeLog(p.drvHash, log.contents());
    if (!outcome.ok) {
      if (check) await pipeline(log.contents(), createWriteStream(logPath));
      throw new BuildFailure(outcome.failure, logPath, outcome.keptDir);
    }
    return { references: p.deps.map((d) => (plan.packages.get(d) as IdentifiedPackage).itemPath) };
  } finally {
    log.close();
    await rm(tmp, { recursive: true, force: true });
  }
}
