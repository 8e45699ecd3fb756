// `beamix challenge`: do the local store and the binary caches agree on what each derivation
// builds to? Like `guix challenge`: for each item, the tree hash (NarHash) of the local item, if
// the store has it, is set beside the hash each cache's record states. When they all agree, the
// build is reproducible as far as these sources go; when they do not, the differing trees are
// fetched (into a temporary directory, verified against their signed record, never registered in
// the store) and compared file by file, and .beam files chunk by chunk, so the report says which
// files differ and whether only debug info does.
//
// Only trusted records count as sources: an unsigned or untrusted record says nothing about what
// its cache really serves, so it is reported as such and left out of the comparison.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../../errors.ts";
import { compareTrees, formatComparison, type Comparison } from "../../builder/compare.ts";
import type { Store } from "../../store/store.ts";
import { removeTree } from "../../store/perms.ts";
import { unpackArchive } from "../format/archive.ts";
import type { CacheBackend } from "../backends/backend.ts";
import { openCache } from "../backends/open-cache.ts";
import { itemName, type SubstituteRecord } from "../format/record.ts";
import type { Substituters } from "./substituters.ts";

export interface ChallengeTarget {
  drvHash: string;
  name: string;
  version: string;
}

export const LOCAL = "local store";

// What one source says about an item.
//   present     the local store has the item, or the cache has a trusted record of it
//   absent      not built locally, or no record in the cache
//   untrusted   the cache's record lacks enough trusted signatures (`reason` says why)
//   wrong-item  the cache's record under this derivation hash names another item
//   error       the cache could not answer (server error, time-out, malformed record)
export type SourceState = "present" | "absent" | "untrusted" | "wrong-item" | "error";

export interface ChallengeSource {
  origin: string; // LOCAL or the cache's URL
  state: SourceState;
  narHash?: string; // hex; present, and the (unverified) claim of an untrusted record
  narSize?: number;
  reason?: string;
  substitutedFrom?: string; // the local item was downloaded from this cache, not built here
}

// One comparison of two differing trees: `b` against `a`, the reference (the local item when
// there is one, else the first trusted cache in priority order).
export interface ChallengeDiff {
  a: string;
  b: string;
  comparison?: Comparison;
  error?: string; // a tree could not be fetched or verified
}

export type ChallengeVerdict = "consistent" | "differs" | "inconclusive";

export interface ChallengeItem extends ChallengeTarget {
  item: string; // <drv hash>-<name>-<version>
  verdict: ChallengeVerdict;
  sources: ChallengeSource[]; // the local store first, then the caches in priority order
  diffs: ChallengeDiff[];
}

export interface ChallengeSummary {
  items: number;
  consistent: number;
  differs: number;
  debugInfoOnly: number; // of `differs`: every compared tree is identical except debug info
  inconclusive: number;
}

export interface ChallengeReport {
  items: ChallengeItem[];
  summary: ChallengeSummary;
}

export interface ChallengeOptions {
  store: Store;
  substituters: Substituters;
  diff?: boolean; // fetch and compare differing trees (default true)
  openBackend?: (url: string) => CacheBackend; // for those downloads (default openCache)
  workDir?: string; // where downloads are unpacked (default the system's temp directory)
  jobs?: number; // items challenged at once (default 4)
  timeoutMs?: number; // idle time-out of a download
  onItem?: (item: ChallengeItem) => void; // as each item is done, in any order
}

const hashKey = (s: { narHash?: string; narSize?: number }) => `${s.narHash}:${s.narSize}`;

export async function challenge(targets: readonly ChallengeTarget[], opts: ChallengeOptions): Promise<ChallengeReport> {
  if ((await opts.substituters.caches()).length === 0) {
    throw new BeamixError("no usable binary cache to challenge (give --substituters URL and trust its key)");
  }
  const backends = new Map<string, CacheBackend>();
  const backendOf = (url: string) => {
    let b = backends.get(url);
    if (!b) backends.set(url, (b = (opts.openBackend ?? openCache)(url)));
    return b;
  };
  const results: ChallengeItem[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      results[i] = await challengeOne(targets[i], opts, backendOf);
      opts.onItem?.(results[i]);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.jobs ?? 4, targets.length)) }, worker));
  } finally {
    for (const b of backends.values()) (b as { close?: () => void }).close?.();
  }
  return { items: results, summary: summarize(results) };
}

async function challengeOne(t: ChallengeTarget, opts: ChallengeOptions, backendOf: (url: string) => CacheBackend): Promise<ChallengeItem> {
  const want = itemName(t);
  const sources: ChallengeSource[] = [];
  const records = new Map<string, SubstituteRecord>(); // by origin, trusted ones only

  const local = opts.store.queryByDrvHash(t.drvHash);
  if (local && local.path === join(opts.store.dir, want)) {
    const s: ChallengeSource = { origin: LOCAL, state: "present", narHash: local.narHash, narSize: local.narSize };
    const from = (local.deriver as { substitutedFrom?: unknown } | undefined)?.substitutedFrom;
    if (typeof from === "string") s.substitutedFrom = from;
    sources.push(s);
  } else {
    sources.push({ origin: LOCAL, state: "absent" });
  }

  for (const r of await opts.substituters.lookup(t.drvHash)) {
    if (r.error !== undefined) sources.push({ origin: r.url, state: "error", reason: r.error });
    else if (!r.record) sources.push({ origin: r.url, state: "absent" });
    else if (itemName(r.record) !== want) sources.push({ origin: r.url, state: "wrong-item", reason: `the record describes ${itemName(r.record)}` });
    else if (!r.trusted) sources.push({ origin: r.url, state: "untrusted", narHash: r.record.narHash, narSize: r.record.narSize, reason: r.untrustedReason });
    else {
      sources.push({ origin: r.url, state: "present", narHash: r.record.narHash, narSize: r.record.narSize });
      records.set(r.url, r.record);
    }
  }

  const present = sources.filter((s) => s.state === "present");
  const groups = new Map<string, ChallengeSource[]>();
  for (const s of present) groups.set(hashKey(s), [...(groups.get(hashKey(s)) ?? []), s]);
  const verdict: ChallengeVerdict = groups.size > 1 ? "differs" : present.length >= 2 ? "consistent" : "inconclusive";
  const item: ChallengeItem = { ...t, item: want, verdict, sources, diffs: [] };
  if (verdict === "differs" && opts.diff !== false) {
    item.diffs = await compareGroups(present[0], [...groups.values()].map((g) => g[0]).filter((s) => s !== present[0]), {
      localPath: local?.path,
      records,
      backendOf,
      workDir: opts.workDir ?? tmpdir(),
      timeoutMs: opts.timeoutMs,
    });
  }
  return item;
}

interface Fetching {
  localPath: string | undefined;
  records: Map<string, SubstituteRecord>;
  backendOf: (url: string) => CacheBackend;
  workDir: string;
  timeoutMs: number | undefined;
}

// Compares one representative of every other hash against the reference, each tree fetched once.
async function compareGroups(ref: ChallengeSource, others: ChallengeSource[], f: Fetching): Promise<ChallengeDiff[]> {
  const tmp = await mkdtemp(join(f.workDir, "beamix-challenge-"));
  try {
    let n = 0;
    const treeOf = async (s: ChallengeSource): Promise<string> => {
      if (s.origin === LOCAL) return f.localPath!;
      const dest = join(tmp, String(n++));
      await fetchTree(f.backendOf(s.origin), f.records.get(s.origin)!, dest, f.timeoutMs);
      return dest;
    };
    let refTree: string;
    try {
      refTree = await treeOf(ref);
    } catch (err) {
      return others.map((o) => ({ a: ref.origin, b: o.origin, error: `cannot fetch ${ref.origin}'s tree: ${errorMessage(err)}` }));
    }
    const diffs: ChallengeDiff[] = [];
    for (const o of others) {
      try {
        diffs.push({ a: ref.origin, b: o.origin, comparison: await compareTrees(refTree, await treeOf(o)) });
      } catch (err) {
        diffs.push({ a: ref.origin, b: o.origin, error: `cannot fetch ${o.origin}'s tree: ${errorMessage(err)}` });
      }
    }
    return diffs;
  } finally {
    await removeTree(tmp);
  }
}

// Restores the archive a record points at into `dest` (which must not exist), checked against the
// record's file hash and tree hash as it streams in.
export async function fetchTree(backend: CacheBackend, record: SubstituteRecord, dest: string, idleTimeoutMs?: number): Promise<void> {
  const body = await backend.get(record.url, { idleTimeoutMs });
  if (!body) throw new BeamixError(`the archive ${record.url} is missing`);
  if (body.size !== undefined && body.size !== record.fileSize) {
    body.cancel();
    throw new BeamixError(`the archive file size is ${body.size}, the record says ${record.fileSize}`);
  }
  try {
    await unpackArchive(body, record, dest);
  } catch (err) {
    body.cancel();
    throw err;
  }
}

export function summarize(items: readonly ChallengeItem[]): ChallengeSummary {
  const count = (v: ChallengeVerdict) => items.filter((i) => i.verdict === v).length;
  const debugOnly = items.filter(
    (i) => i.verdict === "differs" && i.diffs.length > 0 && i.diffs.every((d) => d.comparison?.verdict === "identical-except-debug-info"),
  ).length;
  return { items: items.length, consistent: count("consistent"), differs: count("differs"), debugInfoOnly: debugOnly, inconclusive: count("inconclusive") };
}

const short = (hex: string | undefined) => `sha256:${(hex ?? "").slice(0, 16)}…`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function sourceLine(s: ChallengeSource): string {
  switch (s.state) {
    case "present":
      return `${s.origin}: ${short(s.narHash)} (${s.narSize} bytes)${s.substitutedFrom ? `, substituted from ${s.substitutedFrom}` : ""}`;
    case "absent":
      return `${s.origin}: ${s.origin === LOCAL ? "not built locally" : "no record"}`;
    case "untrusted":
      return `${s.origin}: untrusted record (${s.reason}), claims ${short(s.narHash)}`;
    case "wrong-item":
      return `${s.origin}: unusable record (${s.reason})`;
    case "error":
      return `${s.origin}: no answer (${s.reason})`;
  }
}

// The lines describing one item: its verdict first, then the detail worth reading.
export function formatChallengeItem(item: ChallengeItem): string[] {
  const head = `${item.name} ${item.version}`;
  const present = item.sources.filter((s) => s.state === "present");
  const problems = item.sources.filter((s) => s.state === "untrusted" || s.state === "wrong-item" || s.state === "error");
  const local = item.sources.find((s) => s.origin === LOCAL)!;
  const notes: string[] = [];
  if (local.state === "absent") notes.push("not built locally");
  if (local.substitutedFrom) notes.push(`the local item was substituted from ${local.substitutedFrom}`);
  const note = notes.length ? ` (${notes.join("; ")})` : "";
  if (item.verdict === "consistent") {
    return [`${head}: ok: ${present.length} sources agree on ${short(present[0].narHash)}${note}`, ...problems.map((s) => `  ${sourceLine(s)}`)];
  }
  if (item.verdict === "inconclusive") {
    const only = present.length === 0 ? "no source has it" : `only ${present[0].origin} has it`;
    return [`${head}: inconclusive: ${only}${note}`, ...problems.map((s) => `  ${sourceLine(s)}`)];
  }
  const lines = [`${head}: differs`, ...item.sources.map((s) => `  ${sourceLine(s)}`)];
  for (const d of item.diffs) {
    if (d.error !== undefined) {
      lines.push(`  ${d.b} against ${d.a}: ${d.error}`);
      continue;
    }
    const [first, ...rest] = formatComparison(d.comparison!, { labels: { a: d.a, b: d.b } });
    lines.push(`  ${d.b} against ${d.a}: ${first}`, ...rest.map((l) => `  ${l}`));
  }
  return lines;
}

export function formatChallengeSummary(s: ChallengeSummary): string {
  const debug = s.differs > 0 ? ` (${s.debugInfoOnly} only in debug info)` : "";
  return `${plural(s.items, "item")}: ${s.consistent} consistent, ${s.differs} differ${debug}, ${s.inconclusive} inconclusive`;
}
