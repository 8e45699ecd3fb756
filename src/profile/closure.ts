// Planning and realizing the closure a profile generation or a shell environment links to: all of
// it must end up in the store, or nothing is made of it.
import { BeamixError } from "../errors.ts";
import type { HexRepo } from "../hex/registry/client.ts";
import type { CompileConfig } from "../derivation/config.ts";
import { identified, planBuild, runtimePackageNames, type Plan } from "../realize/plan.ts";
import { realize, type RealizeOptions, type RealizeResult } from "../realize/realize.ts";
import { failureLine } from "../realize/failure-report.ts";
import type { Store } from "../store/store.ts";
import type { Toolchain } from "../toolchain/detect.ts";

export interface ClosureOptions {
  store: Store;
  toolchain: Toolchain;
  repos: ReadonlyMap<string, HexRepo>;
  mixEnv?: string;
  projectConfig?: CompileConfig;
  definitionDirs?: readonly string[];
  realize: Omit<RealizeOptions, "store" | "toolchain">;
}

// Some build of the closure failed: the profile (or shell) is not made. The message names each
// failed package and where its log is.
export class ClosureBuildError extends BeamixError {
  override name = "ClosureBuildError";
  readonly result: RealizeResult;
  constructor(what: string, result: RealizeResult) {
    const failed = result.failed.map(failureLine);
    const skipped = result.skipped.length ? `; not built: ${result.skipped.map((s) => s.name).join(", ")}` : "";
    super(`${what}: ${failed.join("; ")}${skipped}`);
    this.result = result;
  }
}

export function planClosure(specs: readonly string[], opts: ClosureOptions, locked?: ReadonlyMap<string, string>): Promise<Plan> {
  const { store, toolchain, repos, mixEnv, projectConfig, definitionDirs } = opts;
  return planBuild(specs, { store, toolchain, repos, mixEnv, projectConfig, definitionDirs, ...(locked ? { locked } : {}) });
}

export async function realizeClosure(plan: Plan, opts: ClosureOptions, what: string): Promise<RealizeResult> {
  const result = await realize(plan, { ...opts.realize, store: opts.store, toolchain: opts.toolchain });
  if (result.failed.length || result.skipped.length) throw new ClosureBuildError(what, result);
  return result;
}

// The store items of a realized plan, inputs first.
export function closureItems(plan: Plan): { name: string; version: string; path: string; drvHash: string }[] {
  return runtimePackageNames(plan).map((name) => identified(plan, name)).map((p) => ({ name: p.name, version: p.version, path: p.itemPath, drvHash: p.drvHash }));
}
