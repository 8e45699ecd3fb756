// Realizing a project's dependencies: every package ends up as a valid store item whose
// identity covers exactly the project config it reads at compile time (compile-env.ts). Runs
// in dependency order, in parallel; a package's identity is computed once its inputs are
// realized, since their final hashes are part of it.
//
// With substituters, a package missing from the store is first asked of the caches: the read
// sets this store knows for its basis, then those the caches' compile-env hints list
// (src/substitute/compile-env-hints.ts), each giving a final hash whose signed record is looked
// up; the first that substitutes is used. Only when none does is the package built.
// Substituting is mostly waiting on the network and the disk, so more packages are realized at
// once than `jobs` (SUBSTITUTE_JOBS), while builds still take one of `jobs` slots each.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import { mergeConfig, type CompileConfig } from "../derivation/config.ts";
import { createDerivation, derivationHash, type Derivation } from "../derivation/derivation.ts";
import { appLibDir } from "../build/layout.ts";
import type { Plan, PlannedPackage } from "../realize/plan.ts";
import { buildOne, BuildFailure, label, type FailedBuild, type RealizeOptions } from "../realize/realize.ts";
import { substitutedDeriver, type Substituters } from "../substitute/substituters.ts";
import { chainLengths, runDag } from "../realize/scheduler.ts";
import { quietProgress } from "../realize/progress.ts";
import { removeTree } from "../store/perms.ts";
import { CompileEnvIndex, compileEnvReads, configBasisHash, restrictConfig, type CompileEnvRecord, type ConfigRead } from "./compile-env.ts";
import type { LockedPackage } from "./plan-from-lock.ts";
import { Semaphore } from "../util/semaphore.ts";

export interface DepsRealizeOptions extends RealizeOptions {
  projectConfig: CompileConfig;
  // Only look in the store; build nothing (packages not there are reported as missing, and
  // their dependents too, since their identities depend on them).
  lookupOnly?: boolean;
  onRealized?: (name: string, item: RealizedDep) => void; // as each package's item becomes valid
}

export interface RealizedDep {
  name: string;
  version: string;
  app: string;
  path: string; // the store item
  drvHash: string;
  derivation: Derivation;
  status: "built" | "present" | "substituted";
  substitutedFrom?: string; // the cache's URL
  reads: ConfigRead[]; // the compile-time config it reads
}

export interface DepsRealizeResult {
  items: Map<string, RealizedDep>; // by package name
  failed: FailedBuild[];
  missing: string[]; // lookupOnly: not in the store (to be built)
  skipped: { name: string; reason: string }[];
}

const SUBSTITUTE_JOBS = 8;

class NotInStore extends Error {}
// No cache could deliver an item it has a trusted record of (reported line by line already).
class SubstituteUnavailable extends Error {}

export async function realizeDeps(packages: ReadonlyMap<string, LockedPackage>, opts: DepsRealizeOptions): Promise<DepsRealizeResult> {
  const { store, toolchain } = opts;
  const progress = opts.progress ?? quietProgress();
  const index = new CompileEnvIndex(store);
  // Realized packages, in the shape buildOne reads its inputs from.
  const plan: Plan = { roots: [...packages.keys()], packages: new Map() };
  const missing: string[] = [];
  progress.total(packages.size);
  const report = (message: string) => progress.event({ type: "warning", message });
  // Caches that turn out unusable (no trusted key, no cache-info) are reported once: build.
  const subs = opts.substituters && !opts.lookupOnly && (await opts.substituters.caches(report)).length > 0 ? opts.substituters : undefined;
  const buildSlots = new Semaphore(opts.jobs);

  const realizeOne = async (p: LockedPackage): Promise<RealizedDep> => {
    const inputs = new Map(p.deps.map((d) => [d, plan.packages.get(d)!.drvHash]));
    const basis = createDerivation({ definition: p.definition, toolchain, inputs });
    const basisHash = configBasisHash(basis);
    // Everything the project and the definition configure; a final identity keeps only the reads.
    const fullConfig = mergeConfig(p.definition.arguments.compileConfig, opts.projectConfig);
    const finalFor = (reads: ConfigRead[]) => {
      const derivation: Derivation = { ...basis, compileConfig: restrictConfig(fullConfig, reads) };
      const drvHash = derivationHash(derivation);
      return { derivation, drvHash, reads, path: store.itemPath(drvHash, p.name, p.version) };
    };
    const lookup = async () => {
      for (const reads of await index.readSets(basisHash)) {
        const f = finalFor(reads);
        await store.addTempRoot(f.path); // before the validity check, so gc cannot take it in between
        if (store.isValid(f.path)) return f;
      }
      return undefined;
    };
    const done = (f: ReturnType<typeof finalFor>, status: RealizedDep["status"], substitutedFrom?: string): RealizedDep => {
      plan.packages.set(p.name, planned(p, f.derivation, f.drvHash, f.path));
      const r: RealizedDep = { name: p.name, version: p.version, app: p.app, path: f.path, drvHash: f.drvHash, derivation: f.derivation, status, reads: f.reads };
      if (substitutedFrom !== undefined) r.substitutedFrom = substitutedFrom;
      return r;
    };

    // Every read set known here or to a cache, in that order; the first whose final hash has a
    // trusted record and downloads is used. The caller holds the basis's build lock.
    const substitute = async (subs: Substituters): Promise<RealizedDep | undefined> => {
      const sets = new Map<string, ConfigRead[]>();
      for (const reads of [...(await index.readSets(basisHash)), ...(await subs.compileEnvHints(basisHash, report))]) {
        const k = JSON.stringify(reads);
        if (!sets.has(k)) sets.set(k, reads);
      }
      let failure: string | undefined;
      for (const reads of sets.values()) {
        const f = finalFor(reads);
        const wanted = { drvHash: f.drvHash, name: p.name, version: p.version };
        if (!(await subs.has(wanted, report))) continue;
        let from: string | undefined;
        try {
          const { built } = await store.ensureItem(wanted, async (staging) => {
            const got = await subs.fetchInto(store, wanted, staging, { report });
            if (got.status !== "substituted") throw new SubstituteUnavailable(got.status === "failed" ? got.message : "no trusted substitute");
            from = got.url;
            // Our own derivation and the reads it was looked up by: this store then finds the item
            // by itself, and publishes the same hint when it pushes it.
            const compileEnv: CompileEnvRecord = { basis: basisHash, reads };
            return { references: got.references, deriver: { ...substitutedDeriver(got, f.derivation), compileEnv }, restoredFrom: got.tree };
          });
          await index.record(basisHash, reads, p);
          return done(f, built ? "substituted" : "present", built ? from : undefined);
        } catch (err) {
          if (!(err instanceof SubstituteUnavailable)) throw err;
          failure = err.message;
        }
      }
      if (failure !== undefined && opts.fallback === false) throw new BeamixError(`${label(p)}: ${failure}, and falling back to a local build is off`);
      return undefined;
    };

    const found = await lookup();
    if (found) {
      progress.event({ type: "done", label: label(p), result: "present", ms: 0 });
      return done(found, "present");
    }
    if (opts.lookupOnly) {
      missing.push(p.name);
      throw new NotInStore(p.name);
    }
    const started = Date.now();
    progress.event(subs ? { type: "substitute", label: label(p) } : { type: "start", label: label(p) });
    try {
      // One build per basis at a time, across processes: a waiter finds the item afterwards.
      const result = await store.withBuildLock(basisHash, async () => {
        const again = await lookup();
        if (again) return done(again, "present");
        if (subs) {
          const got = await substitute(subs);
          if (got) return got;
          progress.event({ type: "start", label: label(p) });
        }
        const provisional: Derivation = { ...basis, compileConfig: fullConfig };
        const provisionalHash = derivationHash(provisional);
        const self = planned(p, provisional, provisionalHash, store.itemPath(provisionalHash, p.name, p.version));
        plan.packages.set(p.name, self);
        const staging = await store.createStagingDir();
        try {
          // The package heading the longest chain of dependents builds first.
          const outcome = await buildSlots.use(() => buildOne(plan, self, staging, opts), chains.get(p.name));
          const appFile = join(appLibDir(staging, p.app, p.version), "ebin", `${p.app}.app`);
          const reads = compileEnvReads(await readFile(appFile, "utf8"), appFile);
          const f = finalFor(reads);
          const record: CompileEnvRecord = { basis: basisHash, reads };
          await store.register({
            drvHash: f.drvHash,
            name: p.name,
            version: p.version,
            stagingDir: staging,
            references: outcome.references,
            deriver: { drvHash: f.drvHash, derivation: f.derivation, compileEnv: record },
          });
          await index.record(basisHash, reads, p);
          // The log was written under the provisional identity; keep it under the final one too.
          const log = await store.readLog(provisionalHash);
          if (log !== undefined) await store.writeLog(f.drvHash, log);
          await store.addTempRoot(f.path);
          return done(f, "built");
        } finally {
          await removeTree(staging);
        }
      });
      progress.event({ type: "done", label: label(p), result: result.status, ms: Date.now() - started });
      return result;
    } catch (err) {
      plan.packages.delete(p.name);
      progress.event({ type: "failed", label: label(p), message: errorMessage(err) });
      throw err;
    }
  };

  const tasks = [...packages.values()].map((p) => ({
    key: p.name,
    deps: p.deps,
    run: async () => {
      const item = await realizeOne(p);
      opts.onRealized?.(p.name, item);
      return item;
    },
  }));
  const chains = chainLengths(tasks);
  const outcomes = await runDag(tasks, { jobs: subs ? Math.max(opts.jobs, SUBSTITUTE_JOBS) : opts.jobs, keepGoing: opts.keepGoing || opts.lookupOnly });
  progress.finish();

  const result: DepsRealizeResult = { items: new Map(), failed: [], missing, skipped: [] };
  for (const [name, o] of outcomes) {
    const p = packages.get(name)!;
    if (o.status === "ok") result.items.set(name, o.value);
    else if (o.status === "skipped") result.skipped.push({ name, reason: o.reason });
    else if (o.error instanceof NotInStore) continue;
    else {
      const f: FailedBuild = { name, version: p.version, message: errorMessage(o.error) };
      if (o.error instanceof BuildFailure) {
        f.logPath = o.error.logPath;
        if (o.error.keptDir) f.keptDir = o.error.keptDir;
      } else if (!(o.error instanceof BeamixError)) throw o.error;
      result.failed.push(f);
    }
  }
  return result;
}

function planned(p: LockedPackage, derivation: Derivation, drvHash: string, itemPath: string): PlannedPackage {
  return {
    name: p.name,
    version: p.version,
    app: p.app,
    repo: p.repo,
    definition: p.definition,
    derivation,
    drvHash,
    itemPath,
    deps: p.deps,
    source: p.source,
  };
}
