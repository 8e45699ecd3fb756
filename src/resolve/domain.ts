// What the resolver may pick for one package: its usable releases in precedence order, as the
// bits of a bigint so that version sets intersect and complement in one operation. Bit 0 stands
// for "not in the closure" (absent), bit i+1 for the i-th usable release in ascending order.
//
// A release is usable unless it is retired (and not allowed) or the package is locked to
// another version; excluded releases stay known so that error messages can name them.
import { matches, tryParseRequirement, type Requirement } from "../elixir/requirement.ts";
import { compareParsed, tryParseVersion, type Version } from "../elixir/version.ts";
import type { ReleaseInfo } from "./source.ts";

export const ABSENT = 1n;
export const bit = (i: number): bigint => 1n << BigInt(i + 1);

export function popcount(x: bigint): number {
  let n = 0;
  for (; x > 0n; x &= x - 1n) n++;
  return n;
}

export interface DomainPolicy {
  // Order candidates by precedence alone instead of stable releases first (a root's allowPre).
  allowPre: boolean;
  locked?: string; // the only version allowed
  retiredAllowed(version: string): boolean;
}

interface Known {
  release: ReleaseInfo;
  version: Version;
  index: number; // bit index among usable releases, or -1 when excluded
  excludedBecause?: string;
}

export type RequirementSet = { ok: true; set: bigint } | { ok: false; error: string };

export class PackageDomain {
  readonly name: string;
  readonly repo: string;
  readonly exists: boolean;
  readonly locked: string | undefined;
  readonly releases: readonly ReleaseInfo[]; // usable, ascending precedence
  readonly versions: readonly Version[];
  readonly present: bigint; // every usable release
  readonly full: bigint; // present | ABSENT
  // Usable indices, best candidate first. Hex 2 (its solver's version prioritization) tries
  // every stable release, newest first, before any pre-release, newest first; a pre-release
  // is thus picked only when no stable release can be. With allowPre: newest first, whatever.
  readonly priority: readonly number[];
  readonly #known: readonly Known[]; // every parseable release, ascending
  readonly #sets = new Map<string, RequirementSet>();
  readonly #labels = new Map<bigint, string>();

  constructor(name: string, repo: string, releases: readonly ReleaseInfo[] | null, policy: DomainPolicy) {
    this.name = name;
    this.repo = repo;
    this.exists = releases !== null;
    this.locked = policy.locked;
    const known: Known[] = [];
    for (const release of releases ?? []) {
      // A version Elixir cannot parse can match no requirement; Hex would never pick it.
      const version = tryParseVersion(release.version);
      if (version) known.push({ release, version, index: -1 });
    }
    known.sort((a, b) => compareParsed(a.version, b.version));
    const usable: Known[] = [];
    for (const k of known) {
      if (policy.locked !== undefined && k.release.version !== policy.locked) {
        k.excludedBecause = `${name} is locked at ${policy.locked}`;
      } else if (k.release.retired && policy.locked === undefined && !policy.retiredAllowed(k.release.version)) {
        k.excludedBecause = `${name} ${k.release.version} is ${retirementText(k.release.retired)}`;
      } else {
        k.index = usable.length;
        usable.push(k);
      }
    }
    this.#known = known;
    this.releases = usable.map((k) => k.release);
    this.versions = usable.map((k) => k.version);
    let present = 0n;
    for (let i = 0; i < usable.length; i++) present |= bit(i);
    this.present = present;
    this.full = present | ABSENT;
    const indices = usable.map((_, i) => i).reverse();
    this.priority = policy.allowPre
      ? indices
      : [...indices.filter((i) => this.versions[i].pre.length === 0), ...indices.filter((i) => this.versions[i].pre.length > 0)];
  }

  indexOf(version: string): number {
    return this.releases.findIndex((r) => r.version === version);
  }

  // The usable releases matching REQUIREMENT (undefined: any). Requirements are Elixir's,
  // evaluated as Hex 2 does: a range admits the pre-releases inside it (Version.match?/2 with
  // its default allow_pre: true); preferring stable releases is the priority order's job.
  requirementSet(requirement: string | undefined): RequirementSet {
    const key = requirement ?? "";
    let r = this.#sets.get(key);
    if (r) return r;
    if (requirement === undefined) {
      r = { ok: true, set: this.present };
    } else {
      const parsed = tryParseRequirement(requirement);
      if (!parsed) {
        r = { ok: false, error: `${JSON.stringify(requirement)} is not a valid requirement` };
      } else {
        let set = 0n;
        this.versions.forEach((v, i) => {
          if (matches(v, parsed)) set |= bit(i);
        });
        r = { ok: true, set };
        // The first requirement text seen for a set names it in explanations.
        if (!this.#labels.has(set)) this.#labels.set(set, requirement);
      }
    }
    this.#sets.set(key, r);
    return r;
  }

  // Why no usable release matches REQUIREMENT, short enough to stand in parentheses after
  // "P REQ": what exists, or what matched but is excluded.
  noMatchReason(requirement: string | undefined): string {
    if (!this.exists) return `there is no package ${this.name} in repository ${this.repo}`;
    const parsed: Requirement | undefined = requirement === undefined ? undefined : tryParseRequirement(requirement);
    if (requirement !== undefined && !parsed) return `${JSON.stringify(requirement)} is not a valid requirement`;
    const excluded = this.#known.filter((k) => k.index < 0 && (!parsed || matches(k.version, parsed)));
    const reasons = [...new Set(excluded.map((k) => k.excludedBecause!))];
    if (reasons.length > 0) return `no usable release matches: ${reasons.join("; ")}`;
    const versions = this.#known.map((k) => k.release.version);
    return versions.length === 0 ? `${this.name} has no releases` : `no release matches; ${this.name} has ${listNewestFirst(versions)}`;
  }

  // A set of usable releases (bit 0 ignored) as text: the requirement it came from when one
  // is known, otherwise ranges of the package's releases written as an Elixir requirement.
  // "" means every usable release. Excluded releases may fall inside a range: they do not count.
  describe(set: bigint, useLabels = true): string {
    const s = set & this.present;
    const label = useLabels ? this.#labels.get(s) : undefined;
    if (label !== undefined) return label;
    if (s === this.present && popcount(s) !== 1) return "";
    type Mark = "in" | "out" | "skip";
    const marks: Mark[] = this.#known.map((k) => (k.index < 0 ? "skip" : s & bit(k.index) ? "in" : "out"));
    const parts: string[] = [];
    let i = 0;
    while (i < marks.length) {
      if (marks[i] === "out") {
        i++;
        continue;
      }
      const start = i;
      while (i < marks.length && marks[i] !== "out") i++;
      const end = i - 1; // segment [start, end] of in/skip marks
      const ins = [];
      for (let j = start; j <= end; j++) if (marks[j] === "in") ins.push(j);
      if (ins.length === 0) continue;
      const lo = this.#known[ins[0]].release.version;
      const hi = this.#known[ins[ins.length - 1]].release.version;
      const atBottom = start === 0;
      const atTop = end === marks.length - 1;
      if (ins.length === 1) parts.push(lo);
      else if (atBottom && atTop) parts.push("");
      else if (atBottom) parts.push(`<= ${hi}`);
      else if (atTop) parts.push(`>= ${lo}`);
      else parts.push(`>= ${lo} and <= ${hi}`);
    }
    return parts.includes("") ? "" : parts.join(" or ");
  }

  // "beacon 1.2.0", "beacon ~> 1.2", or "beacon" for every usable release.
  termText(set: bigint): string {
    const d = this.describe(set);
    return d === "" ? this.name : `${this.name} ${d}`;
  }
}

// "retired for a security issue: CVE-2024-0001" (Hex's reasons: other, invalid, security,
// deprecated, renamed).
export function retirementText(retired: { reason: string; message?: string }): string {
  const why: Record<string, string> = {
    other: "retired",
    invalid: "retired as invalid",
    security: "retired for a security issue",
    deprecated: "retired as deprecated",
    renamed: "retired as renamed",
  };
  const text = Object.hasOwn(why, retired.reason) ? why[retired.reason] : `retired (${retired.reason})`;
  return retired.message ? `${text}: ${retired.message}` : text;
}

function listNewestFirst(versions: string[], max = 8): string {
  const newest = [...versions].reverse();
  const shown = newest.slice(0, max).join(", ");
  return newest.length > max ? `${shown} and ${newest.length - max} older` : shown;
}
