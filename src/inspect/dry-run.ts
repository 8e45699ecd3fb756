// `beamix build --dry-run`: what a build would do, without doing it. The store is asked first
// (the realize engine with lookupOnly, so an item is found exactly as a build would find it);
// each missing item whose identity is known is then looked up in the caches (records only) to
// say whether it would be downloaded, and how much; the rest would be built.
import { realize, type RealizeOptions } from "../realize/realize.ts";
import { isIdentified, type Plan } from "../realize/plan.ts";
import type { Substituters } from "../substitute/client/substituters.ts";

export interface DryRunEntry {
  name: string;
  version: string;
  action: "present" | "substitute" | "build";
  path: string | null; // the item, when its identity is known before building
  from?: string; // substitute: the cache
  downloadBytes?: number; // substitute: the archive
  narSize?: number; // present or substitute: the tree
  why?: string; // build: why no substitute is used
}

export interface DryRunReport {
  entries: DryRunEntry[]; // in dependency order
  present: number;
  substitute: number;
  build: number;
  downloadBytes: number;
}

export async function dryRun(plan: Plan, opts: Pick<RealizeOptions, "store" | "toolchain">, subs: Substituters | undefined, report?: (line: string) => void): Promise<DryRunReport> {
  const found = await realize(plan, { ...opts, jobs: 1, sandbox: true, timeoutMs: 0, lookupOnly: true });
  const entries: DryRunEntry[] = [];
  for (const p of plan.packages.values()) {
    const base = { name: p.name, version: p.version };
    const present = found.items.get(p.name);
    if (present) {
      entries.push({ ...base, action: "present", path: present.path, narSize: opts.store.queryItem(present.path)?.narSize });
      continue;
    }
    if (!isIdentified(p)) {
      entries.push({ ...base, action: "build", path: null, why: "its identity is known only once its inputs are realized or its build has read its compile-time config" });
      continue;
    }
    const trusted = subs ? (await subs.lookup(p.drvHash, report)).find((r) => r.record && r.trusted && r.record.name === p.name && r.record.version === p.version) : undefined;
    if (trusted?.record) entries.push({ ...base, action: "substitute", path: p.itemPath, from: trusted.url, downloadBytes: trusted.record.fileSize, narSize: trusted.record.narSize });
    else entries.push({ ...base, action: "build", path: p.itemPath, why: subs ? "no cache has a trusted record of it" : "no substituters" });
  }
  const count = (a: DryRunEntry["action"]) => entries.filter((e) => e.action === a).length;
  return { entries, present: count("present"), substitute: count("substitute"), build: count("build"), downloadBytes: entries.reduce((s, e) => s + (e.action === "substitute" ? e.downloadBytes! : 0), 0) };
}
