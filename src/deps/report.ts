// What `beamix deps` reports about a run, and the reports of the runs that do nothing new: one in
// which nothing changed (from the last complete run's report), and a fresh checkout of the same
// project filled from the store (checkout-restore.ts). Kept apart from the run itself so that the
// paths that answer without running (unchanged-replay.ts, checkout-restore.ts) load only this.
import { join, relative } from "node:path";
import type { ConfigRead } from "../derivation/compile-env.ts";
import type { FailedBuild, RealizedItem } from "../realize/realize.ts";
import type { MaterializedDep } from "./materialize.ts";
import { movePath } from "./moved-path.ts";

// A store item the project uses, as a report lists it.
export type DepsItem = Pick<RealizedItem, "name" | "version" | "app" | "path" | "drvHash" | "status" | "reads">;

export interface DepReport {
  app: string;
  name: string;
  version: string;
  source: "hex" | "git";
  item: string | null; // store path; null when not built (check, or a failure)
  status: "built" | "substituted" | "present" | "missing" | "failed" | "skipped";
  substitutedFrom?: string; // the cache's URL
  reads: ConfigRead[] | null; // compile-time config it reads (null: not known yet)
  deps: MaterializedDep["deps"] | null;
  build: MaterializedDep["build"] | null;
  reasons: string[];
}

export interface DepsReport {
  project: { app: string; dir: string; mixEnv: string; buildPath: string; depsPath: string };
  packages: DepReport[]; // in dependency order
  pathDeps: string[];
  failed: FailedBuild[];
  skipped: { name: string; reason: string }[];
  changed: boolean; // something was (or, with check, would be) built or written
  // The store items the project now uses: what `beamix deps --push` uploads; the deriver of
  // each records its compile-env basis and reads, which go to the cache as hints.
  items: DepsItem[];
}

// A package whose item this run found in the store (whatever an earlier run did to get it).
function present(p: DepReport): DepReport {
  const { substitutedFrom: _, ...rest } = p;
  return { ...rest, status: "present" };
}

// The report of a run that changes nothing, from the last complete run's.
export function unchangedReport(r: DepsReport): DepsReport {
  return {
    ...r,
    packages: r.packages.map((p) => ({ ...present(p), deps: "unchanged", build: "unchanged", reasons: [] })),
    items: r.items.map((i) => ({ ...i, status: "present" })),
    failed: [],
    skipped: [],
    changed: false,
  };
}

// The report of a complete run about the same project in another directory, `to`: what Mix's
// answers there would say (relocate-answers.ts), the store paths unchanged.
export function movedReport(r: DepsReport, to: string): DepsReport {
  const from = r.project.dir;
  const p = r.project;
  return { ...r, project: { ...p, dir: to, buildPath: movePath(p.buildPath, from, to), depsPath: movePath(p.depsPath, from, to) } };
}

// The report of a run that found every item in the store and wrote every deps/APP and
// _build/ENV/lib/APP anew (none existed), as materialize.ts words it.
export function restoredReport(r: DepsReport): DepsReport {
  const missing = (app: string) => `${relative(r.project.dir, join(r.project.depsPath, app)) || "."}: missing`;
  return {
    ...r,
    packages: r.packages.map((p) => ({ ...present(p), deps: "create", build: "create", reasons: [missing(p.app)] })),
    items: r.items.map((i) => ({ ...i, status: "present" })),
    failed: [],
    skipped: [],
    changed: true,
  };
}

// The report with the items substituted from a cache (store path -> its URL) said so, as the
// full path says it of items it substituted.
export function withSubstituted(r: DepsReport, substituted: ReadonlyMap<string, string>): DepsReport {
  if (substituted.size === 0) return r;
  return {
    ...r,
    packages: r.packages.map((p) => {
      const from = p.item === null ? undefined : substituted.get(p.item);
      return from === undefined ? p : { ...p, status: "substituted", substitutedFrom: from };
    }),
    items: r.items.map((i) => (substituted.has(i.path) ? { ...i, status: "substituted" } : i)),
  };
}
