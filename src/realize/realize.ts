// Realizing a plan: every planned package ends up as a valid store item, either already present,
// substituted from a binary cache, or built now in a sandbox, in dependency order and in parallel.
// This is the one engine behind build, install, publish, shell and deps: a package's identity is
// computed here by the same code whatever planned it (src/derivation/identity.ts), once its
// inputs are realized.
//
// For each package, with its inputs' final hashes known:
// 1. look in the store: the final identity when nothing configured can change it, else the
//    final identity of every read set the store knows for its basis;
// 2. under the basis's build lock, ask the caches (src/substitute/client/substituters.ts) for the same
//    candidates, plus the read sets their compile-env hints list; each rejected candidate is one
//    warning line, and when trusted records exist but none could be verified the package is
//    built with `fallback` (the default) and counted as failed without it;
// 3. else build it with every configured value, read the compile_env reads its `.app` records,
//    and register it under the final identity of exactly those reads.
// Every registered item records its basis and reads in its deriver and in the store's index, so
// any later command, and any cache it is published to, finds it again.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import { appLibDir } from "../store/item-layout.ts";
import { compileEnvReads, readSetKey, type ConfigRead } from "../derivation/compile-env.ts";
import type { Derivation } from "../derivation/derivation.ts";
import type { Definition } from "../derivation/definition.ts";
import { packageIdentity, type FinalIdentity, type PackageIdentity } from "../derivation/identity.ts";
import { derivationToJson } from "../derivation/serialize.ts";
import { probeSystemInputs } from "../native/system-inputs.ts";
import { nativeFactsOfTree } from "../native/native-facts.ts";
import type { Store, TreeHash } from "../store/store.ts";
import { removeTree } from "../store/perms.ts";
import { CompileEnvIndex } from "../store/compile-env-index.ts";
import { chainLengths, runDag, type DagOutcome } from "../util/dag-scheduler.ts";
import { Semaphore } from "../util/semaphore.ts";
import { EarlyDownloads } from "./early-downloads.ts";
import { isIdentified, type IdentifiedPackage, type Plan, type PlannedPackage } from "./plan.ts";
import { quietProgress, type Progress } from "./progress.ts";
import { BuildFailure, buildOne, type BuildOneOptions } from "./build-one.ts";
import { substitutedDeriver, type Substituters } from "../substitute/client/substituters.ts";
import { compileEnvOf } from "../substitute/format/compile-env-hints.ts";

export interface RealizeOptions extends BuildOneOptions {
  jobs: number;
  keepGoing?: boolean;
  substituters?: Substituters; // asked before building what is missing
  fallback?: boolean; // build when trusted substitutes exist but all fail (default true)
  // Only look in the store; fetch and build nothing. Packages not there are reported as
  // missing, and their dependents too, since their identities depend on them.
  lookupOnly?: boolean;
  onRealized?: (item: RealizedItem) => void; // as each package's item becomes valid
}

export interface RealizedItem {
  name: string;
  version: string;
  app: string;
  path: string; // the store item
  drvHash: string;
  derivation: Derivation;
  reads: ConfigRead[]; // the compile-time config its build read
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
  items: Map<string, RealizedItem>; // by package name
  failed: FailedBuild[];
  skipped: { name: string; reason: string }[];
  missing: string[]; // lookupOnly: not in the store (their dependents are in skipped)
}

class NotInStore extends Error {}

export const label = (p: { name: string; version: string }) => `${p.name} ${p.version}`;

// Packages in flight at once: checking presence and substituting are mostly waiting for the disk
// and the network, so they are not held to -j, which counts builds only (as Nix's
// max-substitution-jobs, 16 by default, is separate from max-jobs).
export const MAX_IN_FLIGHT = 16;
// Archives downloaded and restored at once, ahead of their turn: enough to keep the network and
// the second core busy while one is restored.
const EARLY_DOWNLOADS = 4;

// The compile_env reads that the `.app` of a package's tree (an item or a staging tree) records.
export async function readsOfTree(root: string, p: { name: string; app: string; version: string }): Promise<ConfigRead[]> {
  const appFile = join(appLibDir(root, p.app, p.version), "ebin", `${p.app}.app`);
  let text: string;
  try {
    text = await readFile(appFile, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new BeamixError(`${label(p)}: the tree has no ebin/${p.app}.app`);
    throw err;
  }
  return compileEnvReads(text, appFile);
}

interface Registration {
  references: string[];
  deriver: Record<string, unknown>;
  restoredFrom?: TreeHash;
}

export async function realize(plan: Plan, opts: RealizeOptions): Promise<RealizeResult> {
  return new Realization(plan, opts).run();
}

class Realization {
  private readonly plan: Plan;
  private readonly opts: RealizeOptions;
  private readonly store: Store;
  private readonly index: CompileEnvIndex;
  private readonly progress: Progress;
  private readonly buildSlots: Semaphore;
  private readonly missing: string[] = [];
  private chains = new Map<string, number>();
  private early: EarlyDownloads | undefined;
  private usable: Promise<Substituters | undefined> | undefined;

  constructor(plan: Plan, opts: RealizeOptions) {
    this.plan = plan;
    this.opts = opts;
    this.store = opts.store;
    this.index = new CompileEnvIndex(opts.store);
    this.progress = opts.progress ?? quietProgress();
    this.buildSlots = new Semaphore(opts.jobs);
  }

  private readonly report = (message: string) => this.progress.event({ type: "warning", message });

  // The substituters, once: caches that turn out unusable (no trusted key, no cache-info) are
  // reported once, and then everything is built.
  private substituters(): Promise<Substituters | undefined> {
    const subs = this.opts.lookupOnly ? undefined : this.opts.substituters;
    this.usable ??= subs ? subs.caches(this.report).then((c) => (c.length > 0 ? subs : undefined)) : Promise.resolve(undefined);
    return this.usable;
  }

  async run(): Promise<RealizeResult> {
    const { plan, store } = this;
    this.progress.total(plan.packages.size);
    const tasks = [...plan.packages.values()].map((p) => ({
      key: p.name,
      deps: [...p.deps, ...(p.buildDeps ?? [])],
      run: async () => {
        const item = await this.realizeOne(plan.packages.get(p.name)!);
        this.opts.onRealized?.(item);
        return item;
      },
    }));
    this.chains = chainLengths(tasks);
    // Every missing item whose identity is already known starts downloading now
    // (early-downloads.ts); registering waits for the DAG.
    const known = [...plan.packages.values()].filter(isIdentified).filter((p) => !store.isValid(p.itemPath));
    if (known.length > 0 && !this.opts.lookupOnly && this.opts.substituters) {
      this.early = new EarlyDownloads(store, this.opts.substituters, this.report, EARLY_DOWNLOADS);
      for (const p of known) this.early.start(p, this.chains.get(p.name)!);
    }
    let outcomes: Map<string, DagOutcome<RealizedItem>>;
    try {
      outcomes = await runDag(tasks, { jobs: Math.max(this.opts.jobs, MAX_IN_FLIGHT), keepGoing: this.opts.keepGoing || this.opts.lookupOnly });
    } finally {
      await this.early?.discard();
    }
    this.progress.finish();

    const result: RealizeResult = { items: new Map(), failed: [], skipped: [], missing: this.missing };
    for (const [name, o] of outcomes) {
      const p = plan.packages.get(name)!;
      if (o.status === "ok") result.items.set(name, o.value);
      else if (o.status === "skipped") result.skipped.push({ name, reason: o.reason });
      else if (o.error instanceof NotInStore) continue;
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

  private async realizeOne(p: PlannedPackage): Promise<RealizedItem> {
    const { store } = this;
    const inputs = new Map(p.deps.map((d) => [d, this.plan.packages.get(d)!.drvHash!]));
    const buildInputs = new Map((p.buildDeps ?? []).map((d) => [d, this.plan.packages.get(d)!.drvHash!]));
    // Host libraries are looked for before anything else: a missing one fails here, in one line.
    const declared = p.definition.systemInputs;
    const system = declared
      ? await probeSystemInputs(declared, label(p)).catch((err: unknown) => {
          this.progress.event({ type: "failed", label: label(p), message: errorMessage(err) });
          throw err;
        })
      : undefined;
    const identify = (definition: Definition) => packageIdentity({ definition, toolchain: this.opts.toolchain, inputs, projectConfig: this.plan.projectConfig, system, buildInputs });
    const id = identify(p.definition);
    // The other build tools its release declares (proper: mix, rebar3, make) are tried in turn
    // when the first one's build fails; an item one of them built is as good.
    const alternatives = fallbackCandidates(p, identify);
    for (const c of [{ p, id }, ...alternatives]) {
      const found = await this.lookup(c.p, c.id);
      if (!found) continue;
      this.progress.event({ type: "done", label: label(p), result: "present", ms: 0 });
      return this.done(c.p, found, "present");
    }
    if (this.opts.lookupOnly) {
      this.missing.push(p.name);
      throw new NotInStore(p.name);
    }
    const subs = await this.substituters();
    try {
      // One realization per basis at a time, across processes: a waiter finds the item after.
      return await store.withBuildLock(id.basisHash, async () => {
        const again = await this.lookup(p, id);
        if (again) {
          this.progress.event({ type: "done", label: label(p), result: "present", ms: 0 });
          return this.done(p, again, "present");
        }
        return (subs && (await this.substitute(p, id, subs))) ?? (await this.buildWithFallback(p, id, alternatives));
      });
    } catch (err) {
      this.progress.event({ type: "failed", label: label(p), message: errorMessage(err) });
      throw err;
    }
  }

  private pathOf(p: PlannedPackage, f: FinalIdentity): string {
    return this.store.itemPath(f.drvHash, p.name, p.version);
  }

  // The store's item for the package, if any. A temporary root protects each candidate from a
  // concurrent gc before its validity is checked.
  private async lookup(p: PlannedPackage, id: PackageIdentity): Promise<FinalIdentity | undefined> {
    for (const reads of id.configDependent ? await this.index.readSets(id.basisHash) : [[]]) {
      const f = id.final(reads);
      const path = this.pathOf(p, f);
      await this.store.addTempRoot(path);
      if (!this.store.isValid(path)) continue;
      return id.configDependent ? f : { ...f, reads: await this.readsOfItem(path, p) };
    }
    return undefined;
  }

  // The reads a valid item recorded when it was registered, else those of its `.app`.
  private async readsOfItem(path: string, p: PlannedPackage): Promise<ConfigRead[]> {
    const item = this.store.queryItem(path);
    return (item && compileEnvOf(item)?.reads) ?? readsOfTree(path, p);
  }

  private done(p: PlannedPackage, f: FinalIdentity, status: RealizedItem["status"], substitutedFrom?: string): RealizedItem {
    const path = this.pathOf(p, f);
    this.plan.packages.set(p.name, { ...p, derivation: f.derivation, drvHash: f.drvHash, itemPath: path, reads: f.reads });
    const item: RealizedItem = { name: p.name, version: p.version, app: p.app, path, drvHash: f.drvHash, derivation: f.derivation, reads: f.reads, status };
    if (substitutedFrom !== undefined) item.substitutedFrom = substitutedFrom;
    return item;
  }

  // Registers a finished tree under its final identity and notes the read set in the store's
  // index. The caller holds the basis's build lock.
  private async register(p: PlannedPackage, id: PackageIdentity, f: FinalIdentity, staging: string, r: Registration): Promise<void> {
    await this.store.register({
      drvHash: f.drvHash,
      name: p.name,
      version: p.version,
      stagingDir: staging,
      references: r.references,
      deriver: { ...r.deriver, drvHash: f.drvHash, derivation: derivationToJson(f.derivation), compileEnv: { basis: id.basisHash, reads: f.reads } },
      ...(r.restoredFrom ? { restoredFrom: r.restoredFrom } : {}),
    });
    await this.index.record(id.basisHash, f.reads, p);
    await this.store.addTempRoot(this.pathOf(p, f));
  }

  // Every candidate identity known here or to a cache, in that order; the first whose signed
  // record verifies and whose archive downloads is used. A configured build's substitute must
  // record the reads it was found by, or it is not the item of that identity.
  private async substitute(p: PlannedPackage, id: PackageIdentity, subs: Substituters): Promise<RealizedItem | undefined> {
    const started = Date.now();
    this.progress.event({ type: "substitute", label: label(p) });
    const sets = new Map<string, ConfigRead[]>();
    const known = id.configDependent ? [...(await this.index.readSets(id.basisHash)), ...(await subs.compileEnvHints(id.basisHash, this.report))] : [[]];
    for (const reads of known) if (!sets.has(readSetKey(reads))) sets.set(readSetKey(reads), reads);
    let failure: string | undefined;
    const staging = await this.store.createStagingDir();
    try {
      for (const reads of sets.values()) {
        const f = id.final(reads);
        const early = p.drvHash === f.drvHash && isIdentified(p) ? await this.early?.take(p, staging) : undefined;
        const got = early ?? (await subs.fetchInto(this.store, { drvHash: f.drvHash, name: p.name, version: p.version }, staging, { report: this.report }));
        if (got.status === "failed") failure = got.message;
        if (got.status !== "substituted") continue;
        let recorded: ConfigRead[] | undefined;
        try {
          recorded = await readsOfTree(staging, p);
          if (id.configDependent && readSetKey(recorded) !== readSetKey(f.reads)) {
            throw new BeamixError(`its build read ${readSetKey(recorded)}, not the ${readSetKey(f.reads)} it was found by`);
          }
        } catch (err) {
          this.report(`cannot substitute ${label(p)} from ${got.url}: ${errorMessage(err)}`);
          failure = `the trusted substitute from ${got.url} is not the item it claims to be`;
          await removeTree(staging);
          await mkdir(staging, { mode: 0o755 });
          continue;
        }
        const final = { ...f, reads: recorded };
        await this.register(p, id, final, staging, { references: got.references, deriver: substitutedDeriver(got), restoredFrom: got.tree });
        this.progress.event({ type: "done", label: label(p), result: "substituted", ms: Date.now() - started });
        return this.done(p, final, "substituted", got.url);
      }
    } finally {
      await removeTree(staging);
    }
    if (failure !== undefined && this.opts.fallback === false) throw new BeamixError(`${label(p)}: ${failure}, and falling back to a local build is off`);
    return undefined;
  }

  // Builds with the definition's build system, then with each alternative in turn while the
  // previous one fails; each switch is one warning line. The last failure is the package's.
  private async buildWithFallback(p: PlannedPackage, id: PackageIdentity, alternatives: readonly Candidate[]): Promise<RealizedItem> {
    let current: Candidate = { p, id };
    for (const next of alternatives) {
      try {
        return await this.build(current.p, current.id);
      } catch (err) {
        if (!(err instanceof BuildFailure)) throw err;
        this.report(`${label(p)}: the ${current.p.definition.buildSystem} build failed (${err.message}); building with ${next.p.definition.buildSystem}, which its build_tools also name`);
        current = next;
      }
    }
    return this.build(current.p, current.id);
  }

  // Builds with every configured value (the reads are not known before), then registers the
  // output under the final identity of what it read. The log follows the item.
  private async build(p: PlannedPackage, id: PackageIdentity): Promise<RealizedItem> {
    const { store } = this;
    this.progress.event({ type: "queued", label: label(p) });
    const queuedAt = Date.now();
    // The package heading the longest chain of dependents builds first.
    return this.buildSlots.use(async () => {
      const started = Date.now();
      this.progress.event({ type: "start", label: label(p) });
      const self: IdentifiedPackage = { ...p, ...id.build, itemPath: store.itemPath(id.build.drvHash, p.name, p.version) };
      const staging = await store.createStagingDir();
      try {
        const outcome = await buildOne(this.plan, self, staging, this.opts);
        const f = id.final(await readsOfTree(staging, p));
        // What its native code needs from the host, for whoever substitutes it later.
        const native = await nativeFactsOfTree(staging);
        await this.register(p, id, f, staging, { references: outcome.references, deriver: native ? { native } : {} });
        if (f.drvHash !== id.build.drvHash) {
          const log = await store.readLog(id.build.drvHash);
          if (log !== undefined) await store.writeLog(f.drvHash, log);
        }
        this.progress.event({ type: "done", label: label(p), result: "built", ms: Date.now() - started, queuedMs: started - queuedAt });
        return this.done(p, f, "built");
      } finally {
        await removeTree(staging);
      }
    }, this.chains.get(p.name));
  }
}

interface Candidate {
  p: PlannedPackage;
  id: PackageIdentity;
}

// The package as each of its fallback build systems would build it; one whose identity cannot
// be had here (its tool missing from the toolchain) is left out.
function fallbackCandidates(p: PlannedPackage, identify: (d: Definition) => PackageIdentity): Candidate[] {
  const out: Candidate[] = [];
  for (const buildSystem of p.fallbackBuildSystems ?? []) {
    const alt: PlannedPackage = { ...p, definition: { ...p.definition, buildSystem } };
    try {
      out.push({ p: alt, id: identify(alt.definition) });
    } catch (err) {
      if (!(err instanceof BeamixError)) throw err;
    }
  }
  return out;
}
