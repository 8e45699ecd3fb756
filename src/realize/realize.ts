// Realizing a plan: every planned package ends up as a valid store item, either already present,
// substituted from a binary cache, or built now in a sandbox, in dependency order and in parallel.
//
// With substituters, a missing item is first asked of the caches (src/substitute/substituters.ts),
// under the item's build lock and into the staging directory a build would use. Each rejected
// candidate is one warning line. When no cache has a trusted record the item is built; when trusted
// records exist but none could be verified, it is built with `fallback` (the default) and counted as
// failed without it.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import { unpackTarball } from "../hex/unpack.ts";
import type { BuildInput } from "../build/build-package.ts";
import { sandboxAvailable, sandboxUnavailableMessage } from "../sandbox/bwrap.ts";
import { mergeConfig, type CompileConfig } from "../derivation/config.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import type { Store } from "../store/store.ts";
import { chainLengths, runDag } from "./scheduler.ts";
import { Semaphore } from "../util/semaphore.ts";
import { EarlyDownloads } from "./early-downloads.ts";
import { inputClosure, type Plan, type PlannedPackage } from "./plan.ts";
import { quietProgress, type Progress } from "./progress.ts";
import { substitutedDeriver, type Substituters } from "../substitute/substituters.ts";

export interface RealizeOptions {
  store: Store;
  toolchain: Toolchain;
  jobs: number;
  keepGoing?: boolean;
  keepFailed?: boolean;
  sandbox: boolean;
  timeoutMs: number;
  progress?: Progress;
  workRoot?: string; // where build directories are made (default: the system's temp dir)
  substituters?: Substituters; // asked before building what is missing
  fallback?: boolean; // build when trusted substitutes exist but all fail (default true)
}

export interface RealizedItem {
  name: string;
  version: string;
  path: string;
  status: "built" | "present" | "substituted";
  substitutedFrom?: string; // the cache's URL
}

export interface FailedBuild {
  name: string;
  version: string;
  message: string;
  logPath?: string;
  keptDir?: string;
}

export interface RealizeResult {
  items: Map<string, RealizedItem>;
  failed: FailedBuild[];
  skipped: { name: string; reason: string }[];
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

export const label = (p: { name: string; version: string }) => `${p.name} ${p.version}`;

// Packages in flight at once: checking presence and substituting are mostly waiting for the disk
// and the network, so they are not held to -j, which counts builds only (as Nix's
// max-substitution-jobs, 16 by default, is separate from max-jobs).
export const MAX_IN_FLIGHT = 16;
// Archives downloaded and restored at once, ahead of their turn: enough to keep the network and
// the second core busy while one is restored.
const EARLY_DOWNLOADS = 4;

export async function realize(plan: Plan, opts: RealizeOptions): Promise<RealizeResult> {
  const progress = opts.progress ?? quietProgress();
  const { store } = opts;
  progress.total(plan.packages.size);
  const buildSlots = new Semaphore(opts.jobs);
  const report = (message: string) => progress.event({ type: "warning", message });
  const tasks = [...plan.packages.values()].map((p) => ({
    key: p.name,
    deps: p.deps,
    run: async (): Promise<RealizedItem> => {
      await store.addTempRoot(p.itemPath); // protects it from a concurrent gc from now on
      if (store.isValid(p.itemPath)) {
        progress.event({ type: "done", label: label(p), result: "present", ms: 0 });
        return { name: p.name, version: p.version, path: p.itemPath, status: "present" };
      }
      const started = Date.now();
      // Caches that turn out unusable (no trusted key, no cache-info) were reported once: build.
      const subs = opts.substituters && (await opts.substituters.caches(report)).length > 0 ? opts.substituters : undefined;
      if (subs) progress.event({ type: "substitute", label: label(p) });
      let substitutedFrom: string | undefined;
      try {
        const { item, built } = await store.ensureItem({ drvHash: p.drvHash, name: p.name, version: p.version }, async (staging) => {
          if (subs) {
            const got = (await early?.take(p, staging)) ?? (await subs.fetchInto(store, p, staging, { report }));
            if (got.status === "substituted") {
              substitutedFrom = got.url;
              return { references: got.references, deriver: substitutedDeriver(got, p.derivation), restoredFrom: got.tree };
            }
            if (got.status === "failed" && opts.fallback === false) {
              throw new BeamixError(`${label(p)}: ${got.message}, and falling back to a local build is off`);
            }
          }
          // The package heading the longest chain of dependents builds first.
          return buildSlots.use(() => {
            progress.event({ type: "start", label: label(p) });
            return buildOne(plan, p, staging, opts);
          }, chains.get(p.name));
        });
        const status = !built ? "present" : substitutedFrom !== undefined ? "substituted" : "built";
        progress.event({ type: "done", label: label(p), result: status, ms: Date.now() - started });
        return { name: p.name, version: p.version, path: item.path, status, ...(substitutedFrom !== undefined && built ? { substitutedFrom } : {}) };
      } catch (err) {
        progress.event({ type: "failed", label: label(p), message: errorMessage(err) });
        throw err;
      }
    },
  }));
  const chains = chainLengths(tasks);
  // Every missing item's download starts now (early-downloads.ts); registering waits for the DAG.
  const missing = [...plan.packages.values()].filter((p) => !store.isValid(p.itemPath));
  const early = opts.substituters && missing.length > 0 ? new EarlyDownloads(store, opts.substituters, report, EARLY_DOWNLOADS) : undefined;
  for (const p of missing) early?.start(p, chains.get(p.name)!);
  let outcomes;
  try {
    outcomes = await runDag(tasks, { jobs: Math.max(opts.jobs, MAX_IN_FLIGHT), keepGoing: opts.keepGoing });
  } finally {
    await early?.discard();
  }
  progress.finish();

  const result: RealizeResult = { items: new Map(), failed: [], skipped: [] };
  for (const [name, o] of outcomes) {
    const p = plan.packages.get(name)!;
    if (o.status === "ok") result.items.set(name, o.value);
    else if (o.status === "skipped") result.skipped.push({ name, reason: o.reason });
    else {
      const f: FailedBuild = { name, version: p.version, message: errorMessage(o.error) };
      if (o.error instanceof BuildFailure) {
        f.logPath = o.error.logPath;
        if (o.error.keptDir) f.keptDir = o.error.keptDir;
      } else if (!(o.error instanceof BeamixError)) throw o.error; // a bug, not a failed build
      result.failed.push(f);
    }
  }
  return result;
}

// Builds one planned package into `staging` (its inputs must be valid). The log goes to the store,
// unless this is a check rebuild, whose log is only kept on failure, beside the build.
export async function buildOne(plan: Plan, p: PlannedPackage, staging: string, opts: RealizeOptions, check = false) {
  const { store } = opts;
  // Checked only when something is built, so a no-op run does not pay for starting bwrap.
  if (opts.sandbox) {
    const sandbox = await sandboxAvailable();
    if (!sandbox.available) throw new BeamixError(sandboxUnavailableMessage(sandbox.reason));
  }
  const tmp = await mkdtemp(join(opts.workRoot ?? tmpdir(), `beamix-build-${p.name}-`));
  const log: string[] = [];
  try {
    const sourceDir = join(tmp, "source");
    const tarball = p.source.kind === "local" ? p.source.tarball : (await p.source.repo.tarball(p.name, p.version)).bytes;
    await unpackTarball(tarball, sourceDir, { file: `${p.name}-${p.version}.tar` });

    const closure = inputClosure(plan, p.name);
    const direct = new Set(p.deps);
    const inputs: BuildInput[] = closure.map((d) => ({ name: d.name, app: d.app, version: d.version, storePath: d.itemPath, direct: direct.has(d.name) }));
    // Inputs that recorded compile_env reads are validated by Mix against the loaded config, so
    // a build sees the effective config of its whole input closure as well as its own.
    let compileConfig: CompileConfig = {};
    for (const d of [...closure, p]) compileConfig = mergeConfig(compileConfig, d.derivation.compileConfig);

    // The builder's code is loaded only when something is built (not on a no-op run).
    const { buildPackage } = await import("../build/build-package.ts");
    const outcome = await buildPackage({
      derivation: p.derivation,
      drvHash: p.drvHash,
      sourceDir,
      inputs,
      compileConfig,
      toolchain: opts.toolchain,
      outDir: staging,
      workDir: join(tmp, "work"),
      readOnlyDirs: [store.dir],
      sandbox: opts.sandbox,
      timeoutMs: opts.timeoutMs,
      log: (chunk) => log.push(chunk),
      keepFailed: opts.keepFailed,
    });
    const logPath = check ? join(staging, "..", `check-${p.drvHash}.log`) : await store.writeLog(p.drvHash, log.join(""));
    if (!outcome.ok) {
      if (check) await writeFile(logPath, log.join(""));
      throw new BuildFailure(outcome.failure, logPath, outcome.keptDir);
    }
    return {
      references: p.deps.map((d) => plan.packages.get(d)!.itemPath),
      deriver: { drvHash: p.drvHash, derivation: p.derivation },
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
